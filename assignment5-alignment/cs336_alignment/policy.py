"""Loading and saving policies (assignment-1 TransformerLM or Hugging Face causal LM), optimizers and checkpoints.

A policy directory is a `save_pretrained` directory: for `kind = "basics"` the cs336_basics layout
(`config.json` + `model.safetensors`) with the tokenizer in `tokenizer/`; for `kind = "hf"` a transformers model
directory holding its tokenizer files. Resumable checkpoints are one file with fixed keys
`model`, `optimizer`, `step`, `config`, `rng_state`.
"""

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cs336_alignment.config import ModelConfig, OptimConfig
from cs336_alignment.errors import AlignmentError, CheckpointError

TOKENIZER_SUBDIR = "tokenizer"
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise AlignmentError(f"device {name!r} requested but CUDA is not available")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def load_tokenizer(path: str | Path):
    """A transformers tokenizer directory (tokenizer.json or the model's own files)."""
    from transformers import AutoTokenizer

    path = Path(path)
    if not path.is_dir():
        raise AlignmentError(f"tokenizer directory not found: {path}")
    tok = AutoTokenizer.from_pretrained(str(path))
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return tok


def load_policy(cfg: ModelConfig, device: torch.device) -> tuple[torch.nn.Module, Any]:
    """(model, tokenizer) from `cfg.path`, on `device`, in `cfg.dtype`."""
    if not cfg.path:
        raise AlignmentError("model.path is empty; point it at a saved model directory")
    path = Path(cfg.path)
    if not path.is_dir():
        raise AlignmentError(f"model directory not found: {path}")
    dtype = DTYPES[cfg.dtype]
    if cfg.kind == "basics":
        from cs336_basics.model import TransformerLM

        model = TransformerLM.from_pretrained(path, device=device, dtype=dtype)
        tokenizer = load_tokenizer(cfg.tokenizer_path or path / TOKENIZER_SUBDIR)
    else:
        from transformers import AutoModelForCausalLM

        attn = "sdpa"
        try:
            import flash_attn  # noqa: F401

            attn = "flash_attention_2" if device.type == "cuda" and dtype != torch.float32 else "sdpa"
        except ImportError:
            pass
        model = AutoModelForCausalLM.from_pretrained(str(path), dtype=dtype, attn_implementation=attn).to(device)
        tokenizer = load_tokenizer(cfg.tokenizer_path or path)
    return model, tokenizer


def save_policy(model: torch.nn.Module, tokenizer: Any, directory: str | Path) -> Path:
    """Model + tokenizer in a directory `load_policy` reads back (basics: tokenizer in `tokenizer/`)."""
    directory = Path(directory)
    model.save_pretrained(directory)
    is_basics = not hasattr(model, "generation_config")
    tokenizer.save_pretrained(str(directory / TOKENIZER_SUBDIR if is_basics else directory))
    return directory


def make_optimizer(model: torch.nn.Module, cfg: OptimConfig) -> torch.optim.Optimizer:
    return torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(cfg.beta1, cfg.beta2))


def lr_at(step: int, cfg: OptimConfig) -> float:
    """Linear warm-up over `warmup_steps`, then constant."""
    if cfg.warmup_steps and step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    return cfg.lr


def _rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def save_checkpoint(
    path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, step: int, config: dict, extra: dict
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "step": step,
            "config": config,
            "rng_state": _rng_state(),
            "extra": extra,
        },
        path,
    )


def load_checkpoint(path: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> tuple[int, dict]:
    """Restore model, optimizer and RNG states; returns (step, extra)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    missing = {"model", "optimizer", "step", "config", "rng_state"} - set(ckpt)
    if missing:
        raise CheckpointError(f"{path} is not a training checkpoint (missing {', '.join(sorted(missing))})")
    model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    rng = ckpt["rng_state"]
    random.setstate(rng["python"])
    np.random.set_state(rng["numpy"])
    torch.set_rng_state(rng["torch"])
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
    return int(ckpt["step"]), ckpt.get("extra", {})
