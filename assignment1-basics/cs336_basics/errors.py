"""Exceptions raised by cs336_basics. `cli.main()` turns a BasicsError into one line on stderr and exit code 1."""


class BasicsError(Exception):
    """Base class of every expected failure in cs336_basics (bad input, missing files, impossible configs)."""


class ConfigError(BasicsError, ValueError):
    """A configuration value is unknown, of the wrong type, or inconsistent with another value."""
