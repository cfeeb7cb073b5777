"""Tokenizers for the supplement: any saved Hugging Face tokenizer directory, or GPT-2 style `vocab.json` +
`merges.txt` files (e.g. ../shared/data/tokenizer/gpt2_vocab.json, gpt2_merges.txt) built offline as a fast
byte-level BPE with `<|endoftext|>` as EOS and pad.

    python -c "from cs336_alignment.instruct.tokenizer import resolve_tokenizer as r; print(r('/data/tokenizer'))"
"""

import json
from pathlib import Path

from cs336_alignment.errors import AlignmentError
from cs336_alignment.policy import load_tokenizer

EOS = "<|endoftext|>"


def gpt2_tokenizer(vocab_path: str | Path, merges_path: str | Path):
    """GPT-2's byte-level BPE from its vocabulary and merges files (a `#version` header line is skipped if present)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = json.loads(Path(vocab_path).read_text(encoding="utf-8"))
    merges = []
    for line in Path(merges_path).read_text(encoding="utf-8").splitlines():
        if line.startswith("#version") or not line.strip():
            continue
        left, right = line.split(" ")
        merges.append((left, right))
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    if EOS not in vocab:
        raise AlignmentError(f"{vocab_path} has no {EOS} entry; GPT-2 style vocabularies end with it")
    tok.add_special_tokens([EOS])
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, pad_token=EOS)


def resolve_tokenizer(path: str | Path):
    """A tokenizer from a directory: saved HF files (tokenizer.json / tokenizer_config.json) or GPT-2 BPE files."""
    path = Path(path)
    if not path.is_dir():
        raise AlignmentError(f"tokenizer directory not found: {path}")
    if (path / "tokenizer.json").is_file() or (path / "tokenizer_config.json").is_file():
        return load_tokenizer(path)
    vocab = sorted(path.glob("*vocab.json"))
    merges = sorted(path.glob("*merges.txt"))
    if len(vocab) == 1 and len(merges) == 1:
        return gpt2_tokenizer(vocab[0], merges[0])
    raise AlignmentError(
        f"{path} holds neither a saved Hugging Face tokenizer nor one *vocab.json + one *merges.txt pair"
    )
