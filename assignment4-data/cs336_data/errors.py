"""Exceptions raised by cs336_data. `cli.main()` turns a DataError into one line on stderr and exit code 1."""


class DataError(Exception):
    """Base class of every expected failure in cs336_data (bad input, missing files, impossible configs)."""


class ConfigError(DataError, ValueError):
    """A configuration value is unknown, of the wrong type, or inconsistent with another value."""


class AssetNotFoundError(DataError, FileNotFoundError):
    """A model file (lid.176, Dolma classifiers, quality model) could not be found in any search location."""


# The spec's name for the same error.
AssetNotFound = AssetNotFoundError


class MissingExtraError(DataError, ImportError):
    """An optional dependency is missing; the message names the extra that installs it."""


class InputFormatError(DataError, ValueError):
    """An input file is not what the command expects (not a WARC/WET file, not JSONL, duplicate names, ...)."""


class DownloadError(DataError, OSError):
    """A model download failed (typically: no internet access)."""
