"""Pre-tokenization shared by BPE training and encoding (spec §1.3.1, handout §2.4).

- `PAT` is GPT-2's pre-tokenization regex (identical to tiktoken's `gpt2` pattern); it needs the third-party
  `regex` module for `\\p{L}`/`\\p{N}`.
- Special tokens are split out *before* the regex runs, longest first, so `<|endoftext|><|endoftext|>` beats two
  singles and no pre-token ever spans a special token.
- Files are read in binary and decoded as UTF-8 (bit-exact: no newline translation, pitfall 21), in byte ranges
  whose boundaries are safe cut points (`find_chunk_boundaries`), so a corpus never has to fit in memory and the
  ranges can be counted in parallel (`count_pretokens`).

A cut point is *safe* when the text on either side pre-tokenizes exactly as the whole does: the start of a special
token, or a position where a non-whitespace character is followed by whitespace (no pre-token contains such a
pair and the regex has no look-behind; see spec §1.3.4). For byte ranges we only use ASCII non-space → ASCII
space/newline/tab, which is safe and never splits a UTF-8 sequence.
"""

import os
from collections import Counter
from collections.abc import Iterable, Iterator
from multiprocessing import get_all_start_methods, get_context
from pathlib import Path

import regex

from cs336_basics.errors import EmptyCorpusError, InputFileError, NotUtf8Error

PAT = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
PAT_RE = regex.compile(PAT)
# The code points that PAT's `\s` matches (the `regex` module's Unicode White_Space, which differs from
# str.isspace() on U+001C..U+001F), as a character class body usable by the stdlib `re` module.
WHITESPACE_CLASS = "\\t\\n\\x0b\\x0c\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"

DEFAULT_CHUNK_BYTES = 16 << 20  # upper bound on one worker's slice: bounds memory, not the corpus size
_SCAN_BYTES = 1 << 16  # how far to read at a time while looking for a cut point
_ASCII_SPACE = frozenset(b" \t\n\r\x0b\x0c")
_ASCII_GRAPH = frozenset(range(0x21, 0x7F))


def special_pattern(special_tokens: Iterable[str], capture: bool = False) -> "regex.Pattern[str] | None":
    """Alternation of the special tokens, longest first (each escaped); None when there are none."""
    specials = sorted(set(special_tokens), key=lambda s: (-len(s), s))
    if not specials:
        return None
    body = "|".join(regex.escape(s) for s in specials)
    return regex.compile(f"({body})" if capture else body)


def split_on_specials(text: str, specials_re: "regex.Pattern[str] | None") -> list[str]:
    """The text between special tokens (the specials themselves dropped); empty segments removed."""
    if specials_re is None:
        return [text] if text else []
    return [segment for segment in specials_re.split(text) if segment]


def count_pretokens_in_text(text: str, specials_re: "regex.Pattern[str] | None") -> Counter[str]:
    """Pre-token frequencies of one text, with special tokens removed (no pre-token spans a special)."""
    counts: Counter[str] = Counter()
    findall = PAT_RE.findall
    for segment in split_on_specials(text, specials_re):
        counts.update(findall(segment))
    return counts


def check_readable(path: str | os.PathLike) -> Path:
    """Raise `InputFileError` (a FileNotFoundError) with the reason when `path` is not a readable regular file."""
    path = Path(path)
    if not path.exists():
        raise InputFileError(f"input file not found: {path}")
    if path.is_dir():
        raise InputFileError(f"input path is a directory, expected a text file: {path}")
    if not os.access(path, os.R_OK):
        raise InputFileError(f"input file is not readable (permission denied): {path}")
    return path


def decode_utf8(data: bytes, path: str | os.PathLike, offset: int) -> str:
    """Decode UTF-8, turning a decode error into `NotUtf8Error` with the absolute byte offset and the bad bytes."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = data[exc.start : exc.end]
        raise NotUtf8Error(
            f"{path} is not valid UTF-8: byte offset {offset + exc.start} ({bad!r}: {exc.reason}); "
            "re-encode the file as UTF-8"
        ) from None


def _find_cut(f, start: int, end: int, special_bytes: list[bytes]) -> int:
    """First safe cut at or after `start` (and before `end`), else `end`.

    Prefers the start of a special token; when none shows up within one scan window, falls back to an ASCII
    non-space → ASCII space boundary that is not inside a special token.
    """
    longest = max((len(s) for s in special_bytes), default=0)
    pos = start
    while pos < end:
        f.seek(pos)
        window = f.read(min(_SCAN_BYTES + longest, end - pos))
        if not window:
            break
        hits = [i for i in (window.find(s) for s in special_bytes) if i >= 0]
        if hits:
            return pos + min(hits)
        for i in range(1, len(window)):
            if window[i] in _ASCII_SPACE and window[i - 1] in _ASCII_GRAPH:
                cut = pos + i
                if not _inside_special(window, i, special_bytes):
                    return cut
        pos += max(1, len(window) - longest)
    return end


def _inside_special(window: bytes, i: int, special_bytes: list[bytes]) -> bool:
    for s in special_bytes:
        lo = max(0, i - len(s) + 1)
        j = window.find(s, lo, i + len(s) - 1)
        if 0 <= j < i < j + len(s):
            return True
    return False


def find_chunk_boundaries(
    path: str | os.PathLike, num_chunks: int, special_tokens: Iterable[str] = (), max_chunk_bytes: int | None = None
) -> list[int]:
    """Byte offsets `[0, ..., size]` splitting the file into about `num_chunks` ranges at safe cut points.

    Ranges are at most about `max_chunk_bytes` long (more chunks are made when needed), so a worker's memory is
    bounded by the chunk size. Boundaries are found by seeking to equal offsets and scanning forward.
    """
    size = os.path.getsize(path)
    if size == 0:
        return [0, 0]
    num_chunks = max(1, num_chunks)
    if max_chunk_bytes:
        num_chunks = max(num_chunks, -(-size // max_chunk_bytes))
    step = -(-size // num_chunks)
    special_bytes = [s.encode("utf-8") for s in special_tokens if s]
    bounds = [0]
    with open(path, "rb") as f:
        for k in range(1, num_chunks):
            guess = max(k * step, bounds[-1] + 1)
            if guess >= size:
                break
            cut = _find_cut(f, guess, size, special_bytes)
            if cut >= size:
                break
            if cut > bounds[-1]:
                bounds.append(cut)
    bounds.append(size)
    return bounds


def read_range(path: str | os.PathLike, start: int, end: int) -> str:
    """Decoded text of bytes [start, end) of a UTF-8 file."""
    with open(path, "rb") as f:
        f.seek(start)
        data = f.read(end - start)
    return decode_utf8(data, path, start)


def _count_range(job: tuple[str, int, int, tuple[str, ...]]) -> tuple[Counter[str], int]:
    path, start, end, special_tokens = job
    text = read_range(path, start, end)
    return count_pretokens_in_text(text, special_pattern(special_tokens)), end - start


def iter_range_counts(
    path: str | os.PathLike, special_tokens: list[str], num_workers: int, max_chunk_bytes: int
) -> Iterator[tuple[Counter[str], int]]:
    """Yield (pre-token counts, bytes covered) per byte range, counted by `num_workers` processes."""
    bounds = find_chunk_boundaries(path, max(1, num_workers), special_tokens, max_chunk_bytes)
    jobs = [(str(path), a, b, tuple(special_tokens)) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]
    if num_workers <= 1 or len(jobs) <= 1:
        yield from map(_count_range, jobs)
        return
    # "spawn" would re-import torch in each worker; "fork" is cheap and this code holds no threads or locks.
    ctx = get_context("fork" if "fork" in get_all_start_methods() else "spawn")
    with ctx.Pool(min(num_workers, len(jobs))) as pool:
        yield from pool.imap_unordered(_count_range, jobs)


def count_pretokens(
    path: str | os.PathLike,
    special_tokens: list[str],
    num_workers: int | None = None,
    max_chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    progress: bool = False,
) -> Counter[str]:
    """Pre-token frequencies of a UTF-8 file, special tokens removed; parallel over safe byte ranges."""
    path = check_readable(path)
    num_workers = (os.cpu_count() or 1) if num_workers is None else num_workers
    total: Counter[str] = Counter()
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=os.path.getsize(path), unit="B", unit_scale=True, desc="pre-tokenize")
    for counts, num_bytes in iter_range_counts(path, special_tokens, num_workers, max_chunk_bytes):
        if total:
            total.update(counts)
        else:
            total = counts
        if bar is not None:
            bar.update(num_bytes)
    if bar is not None:
        bar.close()
    if not total:
        what = "empty" if os.path.getsize(path) == 0 else "only special tokens"
        raise EmptyCorpusError(f"corpus {path} is {what}: no text to train on")
    return total
