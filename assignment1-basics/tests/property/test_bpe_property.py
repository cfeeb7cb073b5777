"""The fast BPE trainer equals a slow, obviously-correct reference trainer on random small corpora."""

import os
import tempfile
from collections import Counter

import pytest
import regex

from cs336_basics.bpe import train_bpe
from cs336_basics.errors import EmptyCorpusError

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

# Written out again here (not imported) so that the reference shares no code with the package.
GPT2_PAT = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


def reference_train_bpe(text: str, vocab_size: int, special_tokens: list[str]):
    """Handout §2.5 literally: recount every pair before each merge, max by (count, pair of raw bytes)."""
    if special_tokens:
        alternation = "|".join(regex.escape(s) for s in sorted(special_tokens, key=len, reverse=True))
        segments = regex.split(alternation, text)
    else:
        segments = [text]
    words = Counter()
    for segment in segments:
        for piece in regex.findall(GPT2_PAT, segment):
            words[tuple(bytes([b]) for b in piece.encode("utf-8"))] += 1
    vocab = [bytes([i]) for i in range(256)] + [s.encode("utf-8") for s in special_tokens]
    merges = []
    while len(vocab) < vocab_size:
        pairs = Counter()
        for word, count in words.items():
            for pair in zip(word, word[1:]):
                pairs[pair] += count
        if not pairs:
            break
        best = max(pairs, key=lambda p: (pairs[p], p))
        merges.append(best)
        vocab.append(best[0] + best[1])
        merged = Counter()
        for word, count in words.items():
            out, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                    out.append(best[0] + best[1])
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            merged[tuple(out)] += count
        words = merged
    return dict(enumerate(vocab)), merges


SPECIALS = ["<|endoftext|>", "<|e|>", "<|endoftext|><|endoftext|>"]
# A tiny alphabet makes equal counts (ties) the rule rather than the exception.
pieces = st.one_of(
    st.text(alphabet="aab bc\n'séé1é2", min_size=1, max_size=8),
    st.sampled_from(SPECIALS),
    st.sampled_from(["<|", "|>", "<|endo", " the", "'s", "\u00e9t\u00e9", "  ", "\x1c "]),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    parts=st.lists(pieces, min_size=1, max_size=40),
    num_merges=st.integers(min_value=0, max_value=40),
    num_specials=st.integers(min_value=0, max_value=3),
)
def test_fast_trainer_equals_reference(parts, num_merges, num_specials):
    specials = SPECIALS[:num_specials]
    text = "".join(parts)
    vocab_size = 256 + len(specials) + num_merges
    remaining = regex.sub("|".join(map(regex.escape, specials)), "", text) if specials else text
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "corpus.txt")
        with open(path, "wb") as f:
            f.write(text.encode("utf-8"))
        if not remaining:  # only special tokens: nothing to learn, rejected by design
            with pytest.raises(EmptyCorpusError):
                train_bpe(path, vocab_size, specials, num_workers=1)
            return
        vocab, merges = train_bpe(path, vocab_size, specials, num_workers=1)
    expected_vocab, expected_merges = reference_train_bpe(text, vocab_size, specials)
    assert merges == expected_merges
    assert vocab == expected_vocab


def test_reference_agrees_on_parallel_chunked_training(tmp_path):
    # Many chunks and two worker processes must give exactly the reference result.
    docs = [f"doc {i}: aab ab{'b' * (i % 5)} sé{'é' * (i % 3)} {i % 11}" for i in range(400)]
    text = "<|endoftext|>".join(docs)
    path = tmp_path / "corpus.txt"
    path.write_text(text, encoding="utf-8")
    expected = reference_train_bpe(text, 320, ["<|endoftext|>"])
    assert train_bpe(path, 320, ["<|endoftext|>"], num_workers=2, max_chunk_bytes=1_500) == expected
