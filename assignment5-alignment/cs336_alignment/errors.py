"""Exceptions raised by cs336_alignment. `cli.main()` turns a AlignmentError into one line on stderr and exit code 1."""


class AlignmentError(Exception):
    """Base class of every expected failure in cs336_alignment (bad input, missing files, impossible configs)."""


class ConfigError(AlignmentError, ValueError):
    """A configuration value is unknown, of the wrong type, or inconsistent with another value."""


class CheckpointError(AlignmentError, FileNotFoundError):
    """A checkpoint file is missing or is not one of ours."""
