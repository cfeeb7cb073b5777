"""Packed instruction-tuning data (supplement §1.12).

Every {"prompt", "response"} row becomes the Alpaca template (prompt as instruction, trailing template newline
stripped), tokenised with the tokenizer's default special tokens (Llama-3 prepends `<|begin_of_text|>`), followed
by the EOS id. All documents are concatenated (file order, or a shuffled document order) into one stream `s` of N
ids; example i is `input_ids = s[i*m:(i+1)*m]`, `labels = s[i*m+1:(i+1)*m+1]`, and there are (N-1)//m examples.

    python -c "from cs336_alignment.instruct.packed import PackedSFTDataset; help(PackedSFTDataset)"
"""

import gzip
import json
import random
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

from cs336_alignment.errors import AlignmentError
from cs336_alignment.rewards import load_alpaca_template

SHUFFLE_SEED = 0


def _read_rows(path: str | Path) -> list[dict]:
    path = Path(path)
    if not path.is_file():
        raise AlignmentError(f"instruction data not found: {path}")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    for i, r in enumerate(rows):
        if "prompt" not in r or "response" not in r:
            raise AlignmentError(f"{path} row {i} needs 'prompt' and 'response'; keys: {sorted(r)}")
    return rows


def format_alpaca(instruction: str, response: str) -> str:
    return load_alpaca_template().replace("{instruction}", instruction).replace("{response}", response)


class PackedSFTDataset(Dataset):
    """Fixed-length (seq_length) next-token examples cut from the packed document stream."""

    def __init__(self, tokenizer, dataset_path: str | Path, seq_length: int, shuffle: bool) -> None:
        if seq_length < 1:
            raise AlignmentError(f"seq_length must be >= 1, got {seq_length}")
        if tokenizer.eos_token_id is None:
            raise AlignmentError("the tokenizer has no eos_token_id; packing needs one between documents")
        rows = _read_rows(dataset_path)
        order = list(range(len(rows)))
        if shuffle and len(rows) > 1:
            rng = random.Random(SHUFFLE_SEED)
            while order == sorted(order):  # an identity permutation would not shuffle anything
                rng.shuffle(order)
        stream: list[int] = []
        for i in order:
            stream += tokenizer.encode(format_alpaca(rows[i]["prompt"], rows[i]["response"]))
            stream.append(tokenizer.eos_token_id)
        self.ids = torch.tensor(stream, dtype=torch.long)
        self.seq_length = seq_length

    def __len__(self) -> int:
        return max(0, (len(self.ids) - 1) // self.seq_length)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} examples")
        i %= len(self)
        start = i * self.seq_length
        return {
            "input_ids": self.ids[start : start + self.seq_length],
            "labels": self.ids[start + 1 : start + self.seq_length + 1],
        }


def iterate_batches(dataset: Dataset, batch_size: int, shuffle: bool) -> DataLoader:
    """A DataLoader of dicts of stacked int64 tensors; the last partial batch is kept."""
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, drop_last=False)
