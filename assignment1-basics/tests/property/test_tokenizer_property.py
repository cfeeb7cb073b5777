"""Tokenizer invariants: decode(encode(s)) == s, and encode_iterable == encode under every chunking."""

import pytest

from cs336_basics.bpe import train_bpe
from cs336_basics.tokenizer import Tokenizer

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

EOT = "<|endoftext|>"
SPECIAL_SETS = [
    [],
    [EOT],
    [EOT, EOT + EOT],  # overlapping: longest first
    ["<s>", "a b", "\n\n", " "],  # specials that contain or are whitespace
]


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("tok") / "corpus.txt"
    text = "Hello world! It's 2024 — naïve café.\n\n  Tabs\tand\x1c\x1d odd  spaces\u00a0here.\n" * 30
    path.write_text(EOT.join([text, text.upper()]), encoding="utf-8")
    return train_bpe(path, 350, [EOT], num_workers=1)


@pytest.fixture(scope="module")
def tokenizers(base):
    return [Tokenizer(*base, special_tokens=specials) for specials in SPECIAL_SETS]


# Text dense in the characters that matter at chunk boundaries: whitespace runs (incl. U+001C..U+001F, which
# str.isspace() calls whitespace but the regex does not), pieces of special tokens, letters, digits, emoji.
boundary_text = st.lists(
    st.one_of(
        st.sampled_from([" ", "  ", "\n", "\n\n", "\t", "\r\n", "\x1c", "\x1d", "\x1e", "\x1f", "\u00a0", "\u3000"]),
        st.sampled_from([EOT, "<|", "endo", "ftext|>", "<s>", "a b", "a", "b", "<"]),
        st.text(alphabet="Helo wrd'sé9🙂.", min_size=1, max_size=6),
        st.text(max_size=4),
    ),
    max_size=30,
).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=200), which=st.integers(0, len(SPECIAL_SETS) - 1))
def test_decode_encode_roundtrip_arbitrary_unicode(tokenizers, text, which):
    tok = tokenizers[which]
    assert tok.decode(tok.encode(text)) == text


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=boundary_text, data=st.data(), which=st.integers(0, len(SPECIAL_SETS) - 1))
def test_encode_iterable_equals_encode_for_any_chunking(tokenizers, text, data, which):
    tok = tokenizers[which]
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=12)))
    chunks = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    expected = tok.encode(text)
    assert list(tok.encode_iterable(chunks)) == expected
    # a tiny buffer cap exercises the forced cut for long whitespace-free spans
    assert list(tok.encode_iterable(chunks, max_buffer_chars=4)) == expected


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=boundary_text)
@example(text="x.\x1c\x1d y!\x1f \n<|endoftext|>\x1e")  # punctuation then U+001C..U+001F: not a cut point
def test_encode_iterable_char_by_char(tokenizers, text):
    for tok in tokenizers:
        assert list(tok.encode_iterable(iter(text))) == tok.encode(text)


@pytest.mark.needs_data
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=100))
def test_gpt2_roundtrip_arbitrary_unicode(gpt2_tokenizer, text):
    assert gpt2_tokenizer.decode(gpt2_tokenizer.encode(text)) == text
