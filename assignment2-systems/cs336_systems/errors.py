"""Exceptions raised by cs336_systems. `cli.main()` turns a SystemsError into one line on stderr and exit code 1."""


class SystemsError(Exception):
    """Base class of every expected failure in cs336_systems (bad input, missing files, impossible configs)."""


class ConfigError(SystemsError, ValueError):
    """A configuration value is unknown, of the wrong type, or inconsistent with another value."""
