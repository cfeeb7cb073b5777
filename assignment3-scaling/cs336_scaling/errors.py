"""Exceptions raised by cs336_scaling. `cli.main()` turns a ScalingError into one line on stderr and exit code 1."""


class ScalingError(Exception):
    """Base class of every expected failure in cs336_scaling (bad input, missing files, impossible configs)."""


class ConfigError(ScalingError, ValueError):
    """A configuration value is unknown, of the wrong type, or inconsistent with another value."""


class DataError(ScalingError, ValueError):
    """Input data (an IsoFLOPs file, a list of runs) is malformed or cannot support the requested fit."""


class FitError(ScalingError, ValueError):
    """A fit is impossible or ill-posed on the given data (too few budgets, non-convex profile, bad vertex)."""


class ApiClientError(ScalingError, RuntimeError):
    """The training API answered with an HTTP error; the message carries the status code and the server's detail."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
