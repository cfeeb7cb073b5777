"""GPT-2 tokenizer file format: vocab JSON with the byte-to-unicode map, merges TXT (spec §1.3.2 "Serialization").

- vocab JSON: `{token_str: id}`, every byte of a token mapped through GPT-2's `bytes_to_unicode` table (space
  becomes `Ġ`, byte 0 becomes `Ā`), so the file is printable and JSON-safe.
- merges TXT: a `#version: 0.2` header, then one `tok1 tok2` per line in merge order. Mapped tokens never contain a
  literal space, so splitting a line on a single space is unambiguous.

Both our trainer's output and OpenAI's GPT-2 `encoder.json`/`vocab.bpe` (copies in shared/data/tokenizer) load
through these functions.
"""

import json
import os
from functools import cache
from pathlib import Path

from cs336_basics.errors import TokenizerFormatError
from cs336_basics.pretokenize import check_readable, decode_utf8

MERGES_HEADER = "#version: 0.2"


@cache
def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character map.

    Printable Latin-1 bytes map to themselves; the other 68 bytes (controls, space, 0x7F-0xA0, 0xAD) map to
    U+0100 onwards, in byte order.
    """
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table = {b: chr(b) for b in keep}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return table


@cache
def unicode_to_bytes() -> dict[str, int]:
    return {c: b for b, c in bytes_to_unicode().items()}


def token_to_str(token: bytes) -> str:
    table = bytes_to_unicode()
    return "".join(table[b] for b in token)


def str_to_token(text: str, where: str) -> bytes:
    table = unicode_to_bytes()
    try:
        return bytes(table[c] for c in text)
    except KeyError as exc:
        raise TokenizerFormatError(
            f"{where}: token {text!r} has character {exc.args[0]!r} outside GPT-2's byte-to-unicode map"
        ) from None


def _read_text(path: str | os.PathLike) -> str:
    path = check_readable(path)
    return decode_utf8(path.read_bytes(), path, 0)


def load_vocab(path: str | os.PathLike) -> dict[int, bytes]:
    """Read a GPT-2-format vocab JSON into `{id: bytes}`."""
    try:
        raw = json.loads(_read_text(path))
    except json.JSONDecodeError as exc:
        raise TokenizerFormatError(f"vocab file {path} is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise TokenizerFormatError(f"vocab file {path} must hold a JSON object {{token: id}}, got {type(raw).__name__}")
    vocab: dict[int, bytes] = {}
    for text, token_id in raw.items():
        if isinstance(token_id, bool) or not isinstance(token_id, int) or token_id < 0:
            raise TokenizerFormatError(f"vocab file {path}: id of {text!r} must be an int >= 0, got {token_id!r}")
        if token_id in vocab:
            raise TokenizerFormatError(f"vocab file {path}: id {token_id} is used twice")
        vocab[token_id] = str_to_token(text, f"vocab file {path}")
    return vocab


def load_merges(path: str | os.PathLike) -> list[tuple[bytes, bytes]]:
    """Read a GPT-2-format merges TXT; blank lines, `#version` lines and lines without exactly 2 fields are skipped."""
    merges: list[tuple[bytes, bytes]] = []
    for line in _read_text(path).splitlines():
        if not line.strip() or line.startswith("#version"):
            continue
        fields = line.rstrip("\r\n").split(" ")
        if len(fields) != 2 or not all(fields):
            continue
        where = f"merges file {path}"
        merges.append((str_to_token(fields[0], where), str_to_token(fields[1], where)))
    return merges


def save_vocab(vocab: dict[int, bytes], path: str | os.PathLike) -> None:
    data = {token_to_str(token): token_id for token_id, token in sorted(vocab.items())}
    Path(path).write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def save_merges(merges: list[tuple[bytes, bytes]], path: str | os.PathLike) -> None:
    lines = [MERGES_HEADER] + [f"{token_to_str(a)} {token_to_str(b)}" for a, b in merges]
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")
