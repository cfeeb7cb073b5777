"""Byte-level BPE tokenizer: encode, decode, streaming encode, GPT-2 file format (handout §2.6, spec §1.3.3-1.3.4).

    tok = Tokenizer.from_files("gpt2_vocab.json", "gpt2_merges.txt", special_tokens=["<|endoftext|>"])
    ids = tok.encode("Hello world<|endoftext|>")
    text = tok.decode(ids)
    for token_id in tok.encode_iterable(open("big.txt", encoding="utf-8")): ...

Encoding = split on special tokens (longest first, kept as single ids) -> GPT-2 regex pre-tokenization -> per
pre-token, repeatedly merge the adjacent pair of lowest merge rank (equivalent to applying the merges in creation
order). Pre-token results are cached in a bounded two-generation cache (an O(1) approximation of LRU).

`encode_iterable` yields exactly `encode("".join(chunks))` for every chunking: it only cuts its buffer where a
non-whitespace character is followed by whitespace (no pre-token spans such a position) and never inside a possible
special token (spec §1.3.4).
"""

import os
import re
from collections.abc import Iterable, Iterator
from itertools import chain

import regex

from cs336_basics import gpt2_format
from cs336_basics.bpe import validate_special_tokens
from cs336_basics.errors import TokenIdError, TokenizerFormatError
from cs336_basics.pretokenize import PAT_RE, WHITESPACE_CLASS, special_pattern

_SHIFT = 32
_MASK = (1 << _SHIFT) - 1
_NO_MERGE = 1 << 62
_LAST_SAFE_CUT = regex.compile(r"(?r)\S\s")  # reverse search: the last non-space -> space position
# stdlib `re` with an explicit class equal to the `regex` module's \\s: several times faster than PAT
_WORD_RE = re.compile(f"[{WHITESPACE_CLASS}]*[^{WHITESPACE_CLASS}]+|[{WHITESPACE_CLASS}]+")
DEFAULT_CACHE_SIZE = 1 << 18  # words per cache generation (about 40 MB when full)
DEFAULT_MAX_BUFFER_CHARS = 1 << 20  # encode_iterable forces a cut at a pre-token boundary beyond this


class Tokenizer:
    """Byte-level BPE tokenizer over `vocab` ({id: bytes}) and `merges` (list of byte pairs in creation order).

    Special tokens are added to the vocab at the next free ids only when their bytes are not already present
    (GPT-2's `<|endoftext|>` keeps id 50256). Without special tokens, `<|endoftext|>` is ordinary text.
    """

    def __init__(
        self,
        vocab: dict[int, bytes],
        merges: list[tuple[bytes, bytes]],
        special_tokens: list[str] | None = None,
        cache_size: int = DEFAULT_CACHE_SIZE,
    ) -> None:
        self.vocab: dict[int, bytes] = dict(vocab)
        if not self.vocab:
            raise TokenizerFormatError("vocab is empty; a byte-level BPE vocab holds at least the 256 single bytes")
        self.merges: list[tuple[bytes, bytes]] = [(bytes(a), bytes(b)) for a, b in merges]
        self.special_tokens: list[str] = validate_special_tokens(special_tokens)
        self._token_to_id: dict[bytes, int] = {}
        for token_id in sorted(self.vocab, reverse=True):  # lowest id wins when bytes repeat
            self._token_to_id[self.vocab[token_id]] = token_id
        next_id = max(self.vocab, default=-1) + 1
        for special in self.special_tokens:
            token = special.encode("utf-8")
            if token not in self._token_to_id:
                self.vocab[next_id] = token
                self._token_to_id[token] = next_id
                next_id += 1
        self._special_ids = {s: self._token_to_id[s.encode("utf-8")] for s in self.special_tokens}
        self._special_split = special_pattern(self.special_tokens, capture=True)
        self._special_find = special_pattern(self.special_tokens)
        self._special_prefixes = {s[:k] for s in self.special_tokens for k in range(1, len(s))}
        self._max_special_len = max((len(s) for s in self.special_tokens), default=0)

        # A vocab without some single bytes (e.g. the handout's toy example) still works until such a byte occurs.
        self._byte_ids: list[int | None] = [self._token_to_id.get(bytes([b])) for b in range(256)]
        self._has_all_bytes = None not in self._byte_ids
        self._ranks: dict[int, int] = {}
        for rank, (a, b) in enumerate(self.merges):
            ids = [self._token_to_id.get(t) for t in (a, b, a + b)]
            if None in ids:
                absent = [t for t, i in zip((a, b, a + b), ids, strict=True) if i is None][0]
                raise TokenizerFormatError(
                    f"vocab and merges do not match: merge #{rank} ({a!r}, {b!r}) needs token {absent!r}, "
                    "which is not in the vocab"
                )
            key = ids[0] << _SHIFT | ids[1]
            if key not in self._ranks:  # a repeated merge can never fire again; keep the first rank
                self._ranks[key] = rank << _SHIFT | ids[2]
        # Ranks of all byte pairs, indexed by (b1 << 8 | b2): the first round of every pre-token skips the id
        # mapping and the dict lookups.
        self._byte_pair_ranks: list[int] = [_NO_MERGE] * 65536
        if self._has_all_bytes:
            for x, x_id in enumerate(self._byte_ids):
                for y, y_id in enumerate(self._byte_ids):
                    rank = self._ranks.get(x_id << _SHIFT | y_id)
                    if rank is not None:
                        self._byte_pair_ranks[x << 8 | y] = rank
        size = max(self.vocab) + 1
        self._decode_table: list[bytes | None] = [None] * size
        for token_id, token in self.vocab.items():
            self._decode_table[token_id] = token
        self._cache_size = max(1, cache_size)
        self._cache: dict[str, list[int]] = {}
        self._old_cache: dict[str, list[int]] = {}

    # ---- files ----------------------------------------------------------------------------------------------
    @classmethod
    def from_files(
        cls,
        vocab_filepath: str | os.PathLike,
        merges_filepath: str | os.PathLike,
        special_tokens: list[str] | None = None,
    ) -> "Tokenizer":
        """Load GPT-2-format files (ours or OpenAI's `encoder.json`/`vocab.bpe`)."""
        vocab = gpt2_format.load_vocab(vocab_filepath)
        merges = gpt2_format.load_merges(merges_filepath)
        try:
            return cls(vocab, merges, special_tokens)
        except TokenizerFormatError as exc:
            raise TokenizerFormatError(f"{vocab_filepath} + {merges_filepath}: {exc}") from None

    def save(self, vocab_filepath: str | os.PathLike, merges_filepath: str | os.PathLike) -> None:
        """Write the vocab JSON and merges TXT that `from_files` reads back."""
        gpt2_format.save_vocab(self.vocab, vocab_filepath)
        gpt2_format.save_merges(self.merges, merges_filepath)

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    # ---- encoding -------------------------------------------------------------------------------------------
    def _bpe(self, piece: str) -> list[int]:
        """Token ids of one pre-token: merge the lowest-rank adjacent pair until none is left."""
        data = piece.encode("utf-8")
        byte_ids = self._byte_ids
        ids = [byte_ids[b] for b in data]
        get = self._ranks.get
        # ranks[i] = packed (rank, merged id) of the pair (ids[i], ids[i+1]); only the two neighbours of a merge
        # change, so each step costs one min() instead of re-ranking every pair. Merging the leftmost lowest-rank
        # pair one at a time equals merging all its non-overlapping occurrences left to right.
        if self._has_all_bytes:
            pair_ranks = self._byte_pair_ranks
            ranks = [pair_ranks[x << 8 | y] for x, y in zip(data, data[1:])]
        else:
            if None in ids:
                missing = data[ids.index(None)]
                raise TokenizerFormatError(f"byte 0x{missing:02x} of pre-token {piece!r} has no token in the vocab")
            ranks = [get(x << _SHIFT | y, _NO_MERGE) for x, y in zip(ids, ids[1:])]
        while ranks:
            best = min(ranks)
            if best == _NO_MERGE:
                break
            i = ranks.index(best)
            new = best & _MASK
            ids[i] = new
            del ids[i + 1]
            del ranks[i]
            if i > 0:
                ranks[i - 1] = get(ids[i - 1] << _SHIFT | new, _NO_MERGE)
            if i < len(ranks):
                ranks[i] = get(new << _SHIFT | ids[i + 1], _NO_MERGE)
        return ids

    def _encode_ordinary(self, text: str, out: list[int]) -> None:
        """Append the ids of `text`, which contains no special tokens.

        The text is first cut into "words" (a whitespace run plus the following non-whitespace run) with a cheap
        stdlib regex. Each boundary is a non-space -> space position, which no pre-token spans, so the encoding is
        the concatenation of the words' encodings and whole words can be cached. Only the distinct words missing
        from the cache go through Python code; lookups and concatenation run in C (set difference, map, chain).
        """
        words = _WORD_RE.findall(text)
        cache = self._cache
        missing = set(words).difference(cache)
        if missing:
            old, bpe, findall = self._old_cache, self._bpe, PAT_RE.findall
            for word in missing:
                ids = old.get(word)
                if ids is None:
                    ids = []
                    for piece in findall(word):
                        piece_ids = cache.get(piece) or old.get(piece)
                        if piece_ids is None:
                            piece_ids = cache[piece] = bpe(piece)
                        ids += piece_ids
                cache[word] = ids
        out.extend(chain.from_iterable(map(cache.__getitem__, words)))
        if len(cache) > self._cache_size:  # start a new generation; entries used since then survive one more
            self._old_cache, self._cache = cache, {}

    def encode(self, text: str) -> list[int]:
        """Token ids of `text`; special tokens (longest match first) map to their single ids."""
        out: list[int] = []
        if self._special_split is None:
            self._encode_ordinary(text, out)
            return out
        special_ids = self._special_ids
        for i, part in enumerate(self._special_split.split(text)):
            if i % 2:
                out.append(special_ids[part])
            elif part:
                self._encode_ordinary(part, out)
        return out

    def _safe_cut(self, buf: str, max_buffer_chars: int) -> int:
        """Largest prefix length of `buf` whose encoding cannot change whatever text follows (spec §1.3.4)."""
        n = len(buf)
        hold = n
        for k in range(min(self._max_special_len - 1, n), 0, -1):  # 1. a suffix that may grow into a special
            if buf[n - k :] in self._special_prefixes:
                hold = n - k
                break
        cut = 0
        if self._special_find is not None:  # 2./3. specials that are final, and the end of the last one
            matches = [(m.start(), m.end()) for m in self._special_find.finditer(buf)]
            for start, end in matches:
                if end > hold or end == n:
                    hold = min(hold, start)
            cut = max((end for _, end in matches if end <= hold), default=0)
        m = _LAST_SAFE_CUT.search(buf, cut, hold)
        if m is not None:
            return m.start() + 1
        if hold - cut > max_buffer_chars:
            # Fallback for whitespace-free text: cut at a pre-token start far enough from `hold` that the
            # regex's lookahead (at most 3 characters) cannot see past it.
            starts = [m.start() for m in PAT_RE.finditer(buf, cut, hold) if m.start() <= hold - 4]
            if len(starts) > 1:
                return starts[-1]
        return cut

    def encode_iterable(
        self, iterable: Iterable[str], max_buffer_chars: int = DEFAULT_MAX_BUFFER_CHARS
    ) -> Iterator[int]:
        """Lazily yield the ids of `"".join(iterable)`; memory is bounded by the chunk size, not the total size.

        Only whitespace-free spans longer than `max_buffer_chars` that form a single pre-token can grow the buffer
        beyond that cap.
        """
        buf = ""
        for chunk in iterable:
            if not isinstance(chunk, str):
                raise TypeError(f"encode_iterable expects str chunks, got {type(chunk).__name__}")
            buf += chunk
            cut = self._safe_cut(buf, max_buffer_chars)
            if cut > 0:
                yield from self.encode(buf[:cut])
                buf = buf[cut:]
        if buf:
            yield from self.encode(buf)

    # ---- decoding -------------------------------------------------------------------------------------------
    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        """Concatenated bytes of `ids`. Unknown ids raise `TokenIdError`."""
        ids = ids.tolist() if hasattr(ids, "tolist") else list(ids)
        table = self._decode_table
        try:
            return b"".join([table[i] if i >= 0 else None for i in ids])
        except (IndexError, TypeError):
            bad = next((i for i in ids if not isinstance(i, int) or i < 0 or i >= len(table) or table[i] is None), None)
            raise TokenIdError(f"token id {bad!r} is not in the vocabulary (valid ids: 0..{len(table) - 1})") from None

    def decode(self, ids: Iterable[int]) -> str:
        """Text of `ids`; invalid or partial UTF-8 becomes U+FFFD. Unknown ids raise `TokenIdError`."""
        return self.decode_bytes(ids).decode("utf-8", errors="replace")
