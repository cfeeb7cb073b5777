"""HTML bytes -> text (handout §2.2, `extract_text`).

    cs336-data extract page.html            # or a WARC file: one document per HTML response

Decoding order (spec §1.3): strip a BOM (or recognise BOM-less UTF-16 by its NUL pattern) and try strict UTF-8
(uchardet calls pure ASCII "cp1252" and misreads short UTF-8 pages); then the charset the caller knows (HTTP
header or `<meta charset>`); then uchardet's guess with `errors="replace"`. A codec name Python does not know
(`LookupError`) falls through to the next candidate and finally to cp1252/UTF-8 with replacement, so decoding
never raises.

Extraction is Resiliparse's `extract_plain_text` with its defaults and no post-processing (the adapter's output must
equal Resiliparse's exactly); the pipeline may ask for `main_content=True`.
"""

import codecs
import re

from resiliparse.extract.html2text import extract_plain_text
from resiliparse.parse.encoding import detect_encoding

BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE: its BOM starts with the UTF-16 LE one
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
META_SNIFF_BYTES = 2048
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)


def sniff_meta_charset(html_bytes: bytes) -> str | None:
    """The charset declared by `<meta charset=...>` or `<meta http-equiv ... content="...; charset=...">`."""
    match = _META_CHARSET.search(html_bytes[:META_SNIFF_BYTES])
    return match.group(1).decode("ascii") if match else None


def _try_decode(data: bytes, encoding: str | None, errors: str = "strict") -> str | None:
    if not encoding:
        return None
    try:
        return data.decode(encoding, errors=errors)
    except (LookupError, UnicodeError):
        return None


def looks_like_utf16(data: bytes) -> str | None:
    """UTF-16 without a BOM: ASCII markup leaves every other byte NUL."""
    sample = data[:200]
    if len(sample) < 4:
        return None
    even_nul = sample[0::2].count(0) / len(sample[0::2])
    odd_nul = sample[1::2].count(0) / len(sample[1::2])
    if odd_nul > 0.6 and even_nul < 0.1:
        return "utf-16-le"
    if even_nul > 0.6 and odd_nul < 0.1:
        return "utf-16-be"
    return None


def decode_html_bytes(html_bytes: bytes, http_charset: str | None = None) -> str:
    """Decode an HTML payload to str; never raises (see the module docstring for the order)."""
    for bom, encoding in BOMS:
        if html_bytes.startswith(bom):
            text = _try_decode(html_bytes[len(bom) :], encoding)
            if text is not None:
                return text
    # UTF-16 without a BOM is valid UTF-8 byte-wise (ASCII plus NULs), so it has to be recognised first.
    text = _try_decode(html_bytes, looks_like_utf16(html_bytes))
    if text is not None:
        return text
    text = _try_decode(html_bytes, "utf-8")
    if text is not None:
        return text
    for declared in (http_charset, sniff_meta_charset(html_bytes)):
        text = _try_decode(html_bytes, declared)
        if text is not None:
            return text
    for fallback in (detect_encoding(html_bytes), "cp1252"):
        text = _try_decode(html_bytes, fallback, errors="replace")
        if text is not None:
            return text
    return html_bytes.decode("utf-8", errors="replace")


def extract_text_from_html_bytes(
    html_bytes: bytes, http_charset: str | None = None, *, main_content: bool = False
) -> str | None:
    """Plain text of an HTML page: `decode_html_bytes` then Resiliparse's `extract_plain_text`.

    Returns "" for empty or whitespace-only input. `None` would mean "impossible to decode", which the fallback chain
    never reaches, but callers should keep the branch."""
    if not html_bytes.strip():
        return ""
    html = decode_html_bytes(html_bytes, http_charset)
    if main_content:
        return extract_plain_text(html, main_content=True)
    return extract_plain_text(html)
