"""Exceptions raised by cs336_basics. `cli.main()` turns a BasicsError into one line on stderr and exit code 1."""


class BasicsError(Exception):
    """Base class of every expected failure in cs336_basics (bad input, missing files, impossible configs)."""


class ConfigError(BasicsError, ValueError):
    """A configuration value is unknown, of the wrong type, or inconsistent with another value."""


class InputFileError(BasicsError, FileNotFoundError):
    """An input file is missing, is a directory, or cannot be read (the message names the path and the reason)."""


class NotUtf8Error(BasicsError, ValueError):
    """A text input is not valid UTF-8 (the message gives the file, byte offset and offending bytes)."""


class EmptyCorpusError(BasicsError, ValueError):
    """A training corpus has no text left after removing special tokens, so there is nothing to learn."""


class TokenizerFormatError(BasicsError, ValueError):
    """Vocabulary/merges data is malformed or inconsistent (e.g. a merge whose halves are not in the vocab)."""


class TokenIdError(BasicsError, ValueError):
    """A token id is outside the tokenizer's vocabulary (negative or >= vocab size)."""


class DataFileError(BasicsError, ValueError):
    """A token data file is missing, corrupt, of the wrong dtype, too short, or holds ids >= the model's vocab size."""


class CheckpointNotFoundError(BasicsError, FileNotFoundError):
    """No checkpoint exists at the given path or in the given run directory."""


class CheckpointError(BasicsError, ValueError):
    """A checkpoint file is corrupt, truncated, or does not match the model/optimizer it is loaded into."""


class DownloadError(BasicsError, OSError):
    """A dataset could not be fetched (offline, unreachable host, HTTP error); the message names the URL."""
