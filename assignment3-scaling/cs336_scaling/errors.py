"""Exceptions raised by cs336_scaling. `cli.main()` turns a ScalingError into one line on stderr and exit code 1."""


class ScalingError(Exception):
    """Base class of every expected failure in cs336_scaling (bad input, missing files, impossible configs)."""


class ConfigError(ScalingError, ValueError):
    """A configuration value is unknown, of the wrong type, or inconsistent with another value."""
