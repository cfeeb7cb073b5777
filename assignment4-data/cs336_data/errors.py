"""Exceptions raised by cs336_data. `cli.main()` turns a DataError into one line on stderr and exit code 1."""


class DataError(Exception):
    """Base class of every expected failure in cs336_data (bad input, missing files, impossible configs)."""


class ConfigError(DataError, ValueError):
    """A configuration value is unknown, of the wrong type, or inconsistent with another value."""
