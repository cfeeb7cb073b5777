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


A1_DOCS = [
    "The pipeline keeps well-edited prose and drops web chrome.",
    "Second document.\nIt spans two lines, with café accents and 42 digits.",
    "",
    "Third: the tokenizer was trained on this tiny corpus, so its merges fit these words.",
]


def _train_a1_tokenizer(tmp_path, eos):
    """A small byte-level BPE trained by the assignment 1 trainer on a tiny corpus, saved in its file format."""
    pytest.importorskip("cs336_basics.bpe")
    from cs336_basics.bpe import train_bpe
    from cs336_basics.tokenizer import Tokenizer

    corpus = tmp_path / "corpus.txt"
    corpus.write_text(eos.join(A1_DOCS * 20), encoding="utf-8")
    vocab, merges = train_bpe(corpus, 300, [eos], num_workers=1)
    assert len(merges) > 0
    tokenizer = Tokenizer(vocab, merges, special_tokens=[eos])
    tokenizer.save(tmp_path / "vocab.json", tmp_path / "merges.txt")
    return tokenizer


def test_pipeline_tokenize_stage_with_a1_trained_tokenizer(tmp_path):
    """The filter pipeline's tokenisation stage with a tokenizer trained by `cs336_basics.bpe.train_bpe`."""
    from cs336_data.config import build_config
    from cs336_data.pipeline.corpus import _ShardWriter, run_tokenize

    eos = "<|endoftext|>"
    tokenizer = _train_a1_tokenizer(tmp_path, eos)
    out = tmp_path / "run"
    (out / "final").mkdir(parents=True)
    for shard, docs in enumerate((A1_DOCS[:2], A1_DOCS[2:])):
        writer = _ShardWriter(out / "final" / f"{shard:05d}.jsonl.gz")
        for text in docs:
            writer.write({"text": text})
        writer.close()
    config = build_config(
        {
            "tokenize": {
                "enable": True,
                "tokenizer": "a1",
                "vocab_path": str(tmp_path / "vocab.json"),
                "merges_path": str(tmp_path / "merges.txt"),
            },
            "run": {"progress": False},
        }
    )
    report = run_tokenize(config, out, num_shards=2)
    tokens = load_tokens(report["path"])
    eos_id = tokenizer.encode(eos)[0]
    assert report["eos_id"] == eos_id and report["num_tokens"] == len(tokens)
    assert tokens.dtype == np.uint16 and int(tokens.max()) < tokenizer.vocab_size
    # convention: every document (even an empty one) is followed by exactly one EOS
    assert int((tokens == eos_id).sum()) == len(A1_DOCS) and int(tokens[-1]) == eos_id
    assert tokenizer.decode(tokens.tolist()) == "".join(doc + eos for doc in A1_DOCS)
    assert tokens.tolist() == [i for doc in A1_DOCS for i in [*tokenizer.encode(doc), eos_id]]
    # the trained merges compress: fewer tokens than UTF-8 bytes
    assert len(tokens) < sum(len(doc.encode()) + 1 for doc in A1_DOCS)
