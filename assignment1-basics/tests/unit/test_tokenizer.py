"""Tokenizer: specials, decode errors, file round-trip, mismatch errors, streaming memory bound."""

import json
import tracemalloc
from pathlib import Path

import pytest

from cs336_basics.bpe import train_bpe
from cs336_basics.errors import InputFileError, TokenIdError, TokenizerFormatError
from cs336_basics.tokenizer import Tokenizer

EOT = "<|endoftext|>"
CORPUS = (
    "The quick brown fox jumps over the lazy dog. Numbers 12345 and 67 follow.\n\n"
    "Café, naïve, résumé — “quotes” and emoji 🙂 too.\tTabs\x1c and\u00a0spaces   here.\n"
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[int, bytes], list[tuple[bytes, bytes]]]:
    path = tmp_path_factory.mktemp("tok") / "corpus.txt"
    path.write_text(EOT.join([CORPUS] * 20), encoding="utf-8")
    return train_bpe(path, 400, [EOT], num_workers=1)


@pytest.fixture(scope="module")
def tok(trained) -> Tokenizer:
    return Tokenizer(*trained, special_tokens=[EOT])


def test_roundtrip_and_empty(tok: Tokenizer):
    assert tok.encode("") == []
    assert tok.decode([]) == ""
    for text in [CORPUS, "x" * 1000, EOT + EOT, "a" + EOT + "b", " \n\n \t"]:
        assert tok.decode(tok.encode(text)) == text


def test_special_tokens_map_to_single_ids(tok: Tokenizer, trained):
    ids = tok.encode(f"hi{EOT}there")
    assert ids.count(256) == 1 and tok.decode([256]) == EOT
    # without specials the same text is ordinary text
    plain = Tokenizer(*trained)
    assert 256 not in plain.encode(f"hi{EOT}there")
    assert plain.decode(plain.encode(f"hi{EOT}there")) == f"hi{EOT}there"


def test_specials_are_appended_only_when_absent(trained):
    vocab, merges = trained
    tok = Tokenizer(vocab, merges, special_tokens=[EOT, "<|pad|>"])
    assert len(tok.vocab) == len(vocab) + 1  # EOT already has id 256; <|pad|> gets the next free id
    assert tok.encode("<|pad|>") == [len(vocab)]
    assert tok.encode(EOT) == [256]


def test_overlapping_specials_longest_first(trained):
    double = EOT + EOT
    tok = Tokenizer(*trained, special_tokens=[EOT, double])
    double_id = tok.encode(double)
    assert len(double_id) == 1 and double_id != [256]
    assert tok.encode(EOT * 3) == double_id + [256]
    assert tok.decode(tok.encode("a" + EOT * 3 + "b")) == "a" + EOT * 3 + "b"


def test_decode_invalid_utf8_becomes_replacement_char(tok: Tokenizer):
    assert tok.decode(list("🙂".encode())[:2]) == "\ufffd"  # a truncated 4-byte character
    assert tok.decode([0xF0]) == "\ufffd"  # a lone lead byte (id == byte value in our layout)
    assert tok.decode([0xF0, ord("a")]) == "\ufffda"


@pytest.mark.parametrize("bad", [-1, 10**6, 400])
def test_decode_rejects_unknown_ids(tok: Tokenizer, bad: int):
    with pytest.raises(TokenIdError, match=f"token id {bad} is not in the vocabulary"):
        tok.decode([1, 2, bad])
    assert issubclass(TokenIdError, ValueError)


def test_save_from_files_roundtrip(tok: Tokenizer, trained, tmp_path: Path):
    tok.save(tmp_path / "vocab.json", tmp_path / "merges.txt")
    again = Tokenizer.from_files(tmp_path / "vocab.json", tmp_path / "merges.txt", special_tokens=[EOT])
    assert again.vocab == tok.vocab and again.merges == tok.merges == trained[1]
    assert again.encode(CORPUS) == tok.encode(CORPUS)
    # the format is GPT-2's: printable tokens, space mapped to "Ġ", one merge per line after the header
    vocab_json = json.loads((tmp_path / "vocab.json").read_text(encoding="utf-8"))
    assert vocab_json["Ġ"] == 32 and vocab_json["Ā"] == 0 and vocab_json[EOT] == 256
    lines = (tmp_path / "merges.txt").read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("#version") and len(lines) == len(trained[1]) + 1
    assert all(len(line.split(" ")) == 2 for line in lines[1:])


def test_mismatched_vocab_and_merges_is_a_clear_error(trained, tmp_path: Path):
    vocab, merges = trained
    smaller = {i: t for i, t in vocab.items() if i < 300}
    with pytest.raises(TokenizerFormatError, match="vocab and merges do not match: merge #"):
        Tokenizer(smaller, merges)
    Tokenizer(vocab, merges).save(tmp_path / "v.json", tmp_path / "m.txt")
    Tokenizer(smaller, merges[:10]).save(tmp_path / "v_small.json", tmp_path / "m_small.txt")
    with pytest.raises(TokenizerFormatError, match=r"v_small.json \+ .*m.txt: vocab and merges do not match"):
        Tokenizer.from_files(tmp_path / "v_small.json", tmp_path / "m.txt")


def test_from_files_errors(tmp_path: Path):
    (tmp_path / "m.txt").write_text("#version: 0.2\n", encoding="utf-8")
    with pytest.raises(InputFileError, match="not found"):
        Tokenizer.from_files(tmp_path / "missing.json", tmp_path / "m.txt")
    (tmp_path / "bad.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(TokenizerFormatError, match="not valid JSON"):
        Tokenizer.from_files(tmp_path / "bad.json", tmp_path / "m.txt")
    (tmp_path / "ids.json").write_text('{"a": "x"}', encoding="utf-8")
    with pytest.raises(TokenizerFormatError, match="must be an int"):
        Tokenizer.from_files(tmp_path / "ids.json", tmp_path / "m.txt")


def test_missing_byte_token_is_reported_at_encode_time():
    # The handout's §2.6 example vocab has no full byte alphabet: encoding works until an absent byte shows up.
    vocab = {0: b" ", 1: b"a", 2: b"c", 3: b"e", 4: b"h", 5: b"t", 6: b"th", 7: b" c", 8: b" a", 9: b"the", 10: b" at"}
    merges = [(b"t", b"h"), (b" ", b"c"), (b" ", b"a"), (b"th", b"e"), (b" a", b"t")]
    tok = Tokenizer(vocab, merges)
    assert tok.encode("the cat ate") == [9, 7, 1, 5, 10, 3]
    with pytest.raises(TokenizerFormatError, match="byte 0x7a"):
        tok.encode("zebra")


def test_encode_iterable_hello_world_example(tok: Tokenizer):
    text = "Hello\n\n\nWorld"
    lines = text.splitlines(keepends=True)
    assert list(tok.encode_iterable(lines)) == tok.encode(text)
    assert list(tok.encode_iterable(["<|endo", "ftext|>", "x"])) == tok.encode(EOT + "x")


def test_encode_iterable_memory_is_bounded_by_chunk_size(tok: Tokenizer):
    """~3 MB streamed in short lines: peak traced memory must stay far below the input size."""
    line = CORPUS.replace("\n", " ") + "\n"
    num_lines = (3 << 20) // len(line.encode())

    def lines():
        for i in range(num_lines):
            yield line if i % 50 else EOT + line

    tok.encode("warm up the pre-token cache: " + CORPUS)
    tracemalloc.start()
    try:
        count = sum(1 for _ in tok.encode_iterable(lines()))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count > num_lines * 10
    assert peak < 1 << 20, f"peak traced memory {peak / 2**20:.2f} MiB for a 3 MiB stream"


def test_pre_token_cache_is_bounded(trained):
    tok = Tokenizer(*trained, cache_size=50)
    words = [f"w{i}q{i * 7}" for i in range(2_000)]
    for word in words:
        assert tok.decode(tok.encode(" " + word)) == " " + word
    # two generations of at most cache_size entries (plus the words of the call that filled one)
    assert len(tok._cache) + len(tok._old_cache) <= 2 * 50 + 4
    assert tok.encode(" " + " ".join(words)) == [i for w in words for i in tok.encode(" " + w)]
