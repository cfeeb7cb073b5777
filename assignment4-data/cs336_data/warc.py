"""Reading Common Crawl WARC (HTML responses) and WET (extracted text) files with FastWARC.

    from cs336_data.warc import iter_wet_documents
    for doc in iter_wet_documents("CC-MAIN-....warc.wet.gz"): ...

Gzip (per-record members, as Common Crawl writes them) and plain files are both read; FastWARC detects which.
Bad input never stops a run: a record that is empty, binary, or not decodable is skipped and counted in the
optional `errors` Counter under `errors/<kind>`; a file whose compression or framing is corrupt yields the records
before the damage and counts `errors/corrupt_stream` (with a warning naming the file).
"""

import gzip
import logging
import os
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from fastwarc.warc import ArchiveIterator, WarcRecordType

from cs336_data.errors import InputFormatError
from cs336_data.extract import BOMS, looks_like_utf16

logger = logging.getLogger(__name__)
BINARY_SNIFF_BYTES = 1024  # a NUL byte in the first KiB of a "text" payload means it is binary
GZIP_MAGIC = b"\x1f\x8b"
HTML_CONTENT_TYPES = ("text/html", "application/xhtml")


@dataclass(frozen=True)
class HtmlRecord:
    url: str
    record_id: str
    date: str
    http_charset: str | None  # charset from the HTTP Content-Type header, if any
    body: bytes


@dataclass(frozen=True)
class WetDoc:
    url: str
    record_id: str
    refers_to: str  # record id of the WARC response this text was extracted from
    cc_lang_hint: str  # WARC-Identified-Content-Language (Common Crawl's CLD2 guess), may be ""
    text: str


def _count(errors: Counter | None, kind: str) -> None:
    if errors is not None:
        errors[f"errors/{kind}"] += 1


class _TolerantGzip:
    """A gzip reader that ends the stream at a truncated or corrupt member instead of raising, and says so.

    FastWARC reads ahead in large blocks; an exception from the stream would discard the records already buffered,
    so the damage is recorded in `error` and reported after the good records were yielded."""

    def __init__(self, path: str | os.PathLike) -> None:
        self._file = gzip.open(path, "rb")
        self.error: Exception | None = None

    def read(self, size: int = -1) -> bytes:
        if self.error is not None:
            return b""
        try:
            return self._file.read1(size)  # read1: a failing chunk must not discard earlier ones
        except (OSError, EOFError, zlib.error) as exc:
            self.error = exc
            return b""

    def tell(self) -> int:
        return self._file.tell()

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._file.close()


def _iter_records(path: str | os.PathLike, record_types: int, errors: Counter | None) -> Iterator:
    if not os.path.isfile(path):
        raise InputFormatError(f"{path} is not a file")
    with open(path, "rb") as raw:
        is_gzip = raw.read(2) == GZIP_MAGIC
    # Gzip goes through Python's reader: FastWARC's own stops silently at a truncated member, Python's raises, so
    # the damage is counted instead of passing unnoticed.
    stream = _TolerantGzip(path) if is_gzip else open(path, "rb")
    try:
        yield from ArchiveIterator(stream, record_types=record_types, parse_http=False, stream_detect=False)
        if getattr(stream, "error", None) is not None:
            raise stream.error
    except (OSError, EOFError, ValueError, UnicodeError, zlib.error) as exc:
        # Boundary for corrupt/truncated files: keep what was read, count the damage, go on with the next file.
        logger.warning("%s: stopped reading at a corrupt record or stream (%s)", path, exc)
        _count(errors, "corrupt_stream")
    finally:
        stream.close()


def _is_binary(payload: bytes) -> bool:
    """NUL bytes near the start, unless the text is UTF-16/32 (whose ASCII characters carry NUL bytes)."""
    head = payload[:BINARY_SNIFF_BYTES]
    if b"\x00" not in head:
        return False
    return not (head.startswith(tuple(bom for bom, _ in BOMS)) or looks_like_utf16(head))


def _header(record, name: str) -> str:
    value = record.headers.get(name)
    return value if value is not None else ""


def _split_http(content: bytes) -> tuple[str, bytes] | None:
    """(Content-Type header value, body) of an HTTP response block, or None when the block is not HTTP."""
    head, sep, body = content.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = content.partition(b"\n\n")
    if not sep or not head.startswith(b"HTTP/"):
        return None
    content_type = ""
    for line in head.decode("latin-1").splitlines()[1:]:
        key, _, value = line.partition(":")
        if key.strip().lower() == "content-type":
            content_type = value.strip()
    return content_type, body


def _charset_from_content_type(content_type: str) -> str | None:
    for part in content_type.split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            return value.strip().strip("\"'")
    return None


def iter_html_responses(path: str | os.PathLike, errors: Counter | None = None) -> Iterator[HtmlRecord]:
    """WARC `response` records whose HTTP Content-Type is HTML; other records are skipped silently."""
    for record in _iter_records(path, WarcRecordType.response, errors):
        content = record.reader.read()
        parsed = _split_http(content)
        if parsed is None:
            _count(errors, "not_http")
            continue
        content_type, body = parsed
        if not content_type.lower().startswith(HTML_CONTENT_TYPES):
            continue  # images, PDFs, JSON...: not an error, just not ours
        if not body.strip():
            _count(errors, "empty")
            continue
        if _is_binary(body):
            _count(errors, "binary")
            continue
        yield HtmlRecord(
            url=_header(record, "WARC-Target-URI"),
            record_id=_header(record, "WARC-Record-ID"),
            date=_header(record, "WARC-Date"),
            http_charset=_charset_from_content_type(content_type),
            body=body,
        )


def iter_wet_documents(path: str | os.PathLike, errors: Counter | None = None) -> Iterator[WetDoc]:
    """WET `conversion` records as UTF-8 text; empty, binary and non-UTF-8 payloads are counted and skipped."""
    for record in _iter_records(path, WarcRecordType.conversion, errors):
        payload = record.reader.read()
        if not payload.strip():
            _count(errors, "empty")
            continue
        if _is_binary(payload):
            _count(errors, "binary")
            continue
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError:
            _count(errors, "undecodable")
            continue
        yield WetDoc(
            url=_header(record, "WARC-Target-URI"),
            record_id=_header(record, "WARC-Record-ID"),
            refers_to=_header(record, "WARC-Refers-To"),
            cc_lang_hint=_header(record, "WARC-Identified-Content-Language"),
            text=text,
        )
