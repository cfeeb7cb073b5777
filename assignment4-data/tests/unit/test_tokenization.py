import numpy as np
import pytest

from cs336_data.errors import DataError
from cs336_data.tokenization import gpt2_encoder, load_tokens, tokenize_to_bin


def test_eos_after_every_document_and_uint16(tmp_path):
    def encode(text):
        return [ord(c) for c in text]

    n = tokenize_to_bin(["ab", "line1\nline2", ""], tmp_path / "t.bin", encode, eos_id=9)
    tokens = load_tokens(tmp_path / "t.bin")
    assert tokens.dtype == np.uint16 and n == len(tokens) == 2 + 1 + 11 + 1 + 1
    assert list(np.flatnonzero(tokens == 9)) == [2, 14, 15]  # one EOS per document, newlines do not split


def test_ids_beyond_uint16_are_rejected(tmp_path):
    with pytest.raises(DataError, match="uint16"):
        tokenize_to_bin(["x"], tmp_path / "t.bin", lambda t: [70_000], eos_id=0)


@pytest.mark.needs_data
def test_gpt2_files_match_hf_tokenizers(shared_data, tmp_path):
    tokenizers = pytest.importorskip("tokenizers")
    vocab, merges = shared_data / "tokenizer" / "gpt2_vocab.json", shared_data / "tokenizer" / "gpt2_merges.txt"
    encode, eos = gpt2_encoder(str(vocab), str(merges), "<|endoftext|>")
    reference = tokenizers.ByteLevelBPETokenizer(str(vocab), str(merges))
    text = "Hello world, café! It's 2024 —\n  indented   spaces\tand tabs. 日本語"
    assert eos == 50256
    assert encode(text) == reference.encode(text).ids
    tokenize_to_bin([text, text], tmp_path / "t.bin", encode, eos)
    tokens = load_tokens(tmp_path / "t.bin")
    first = list(tokens[: list(tokens).index(eos)])
    assert reference.decode(first) == text


@pytest.mark.needs_data
def test_a1_tokenizer_on_gpt2_files_matches_gpt2_encoder(shared_data, tmp_path):
    pytest.importorskip("cs336_basics.tokenizer")
    from cs336_data.tokenization import a1_encoder

    vocab, merges = shared_data / "tokenizer" / "gpt2_vocab.json", shared_data / "tokenizer" / "gpt2_merges.txt"
    ours, eos = gpt2_encoder(str(vocab), str(merges), "<|endoftext|>")
    a1, a1_eos = a1_encoder(str(vocab), str(merges), "<|endoftext|>")
    text = "The pipeline keeps well-edited prose.\n\nIt drops   boilerplate, e.g. 'Home | Login'!"
    assert a1_eos == eos == 50256
    assert a1(text) == ours(text)
