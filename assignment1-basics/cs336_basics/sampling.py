"""Text in, text out around the model's token-level `generate` (used by `cs336-basics generate` and at the end of
training).

    uv run cs336-basics generate --model runs/<run> --prompt "Once upon a time" --max-new-tokens 100

A model directory is either a run directory (`model/` + `tokenizer/` inside) or a `save_pretrained` directory
(`model_config.json` + weights) with the tokenizer given separately.
"""

from pathlib import Path

import torch

from cs336_basics.errors import BasicsError

EOT = "<|endoftext|>"
VOCAB_FILE = "vocab.json"
MERGES_FILE = "merges.txt"


def load_tokenizer(tokenizer_dir: str | Path):
    """`Tokenizer.from_files(<dir>/vocab.json, <dir>/merges.txt, ["<|endoftext|>"])`."""
    from cs336_basics.tokenizer import Tokenizer

    tokenizer_dir = Path(tokenizer_dir)
    vocab, merges = tokenizer_dir / VOCAB_FILE, tokenizer_dir / MERGES_FILE
    if not vocab.is_file() or not merges.is_file():
        raise BasicsError(f"tokenizer not found: expected {vocab} and {merges}")
    return Tokenizer.from_files(str(vocab), str(merges), special_tokens=[EOT])


def resolve_model_dir(path: str | Path) -> tuple[Path, Path | None]:
    """(pretrained dir, tokenizer dir or None) for a run directory or a bare pretrained directory."""
    path = Path(path)
    if (path / "model").is_dir():
        tok = path / "tokenizer"
        return path / "model", tok if tok.is_dir() else None
    if path.is_dir():
        return path, (path / "tokenizer") if (path / "tokenizer").is_dir() else None
    raise BasicsError(f"model directory not found: {path}")


def eot_id(tokenizer) -> int | None:
    ids = tokenizer.encode(EOT)
    return ids[0] if len(ids) == 1 else None


@torch.no_grad()
def generate_texts(
    model: torch.nn.Module,
    tokenizer,
    prompts: list[str],
    *,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_p: float | None = None,
    top_k: int | None = None,
    seed: int | None = 0,
) -> list[str]:
    """Complete each prompt until `<|endoftext|>` or `max_new_tokens`; returns the completions only.

    Prompts of equal token length go through the model as one batch (the model's KV-cached generate).
    """
    device = next(model.parameters()).device
    gen = torch.Generator(device=device).manual_seed(seed) if seed is not None else None
    model.eval()
    eos = eot_id(tokenizer)
    encoded = [tokenizer.encode(p) or ([eos] if eos is not None else [0]) for p in prompts]
    out = [""] * len(prompts)
    by_length: dict[int, list[int]] = {}
    for i, ids in enumerate(encoded):
        by_length.setdefault(len(ids), []).append(i)
    for indices in by_length.values():
        x = torch.tensor([encoded[i] for i in indices], dtype=torch.long, device=device)
        rows = model.generate(
            x, max_new_tokens, temperature=temperature, top_k=top_k, top_p=top_p, eos_token_id=eos, generator=gen
        )
        for row, i in zip(rows, indices, strict=True):
            new = row.tolist()  # only the new tokens (the model's generate contract)
            if eos is not None and eos in new:
                new = new[: new.index(eos)]
            out[i] = tokenizer.decode(new)
    return out
