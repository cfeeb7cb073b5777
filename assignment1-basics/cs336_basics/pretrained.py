"""The model directory format: `save_pretrained` / `from_pretrained` and config normalisation.

Two layouts load:
- ours: `config.json` (the `TransformerLM` constructor kwargs, i.e. `model.config`) + `model.safetensors`;
- A4's: `model_config.json` + `model.pt` (a bare state dict, or a checkpoint dict with a "model" entry).
Staff switch names (`remove_rmsnorm`, `use_post_norm`, `remove_rope`, `weight_tying`) map onto ours, and the
`_orig_mod.` prefix that `torch.compile` puts on state-dict keys is stripped. This module imports nothing from
`cs336_basics.model`; the model's `save_pretrained`/`from_pretrained` methods call into it.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from cs336_basics.errors import BasicsError, ConfigError

__all__ = [
    "A4_CONFIG_FILE",
    "A4_WEIGHTS_FILE",
    "CONFIG_FILE",
    "WEIGHTS_FILE",
    "config_from_object",
    "load_pretrained",
    "normalize_config",
    "save_pretrained",
    "strip_compile_prefix",
]

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
A4_CONFIG_FILE = "model_config.json"
A4_WEIGHTS_FILE = "model.pt"
_ORIG_MOD_PREFIX = "_orig_mod."

REQUIRED_FIELDS = ("vocab_size", "context_length", "d_model", "num_layers", "num_heads", "d_ff")
OPTIONAL_FIELDS = (
    "rope_theta",
    "norm_type",
    "norm_position",
    "use_rope",
    "ffn_type",
    "tie_embeddings",
    "attn_backend",
    "norm_eps",
    "vocab_pad_multiple",
    # staff names, mapped by normalize_config
    "remove_rmsnorm",
    "use_post_norm",
    "remove_rope",
    "weight_tying",
)


def normalize_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Map the staff ablation names onto ours, so staff configs load unchanged."""
    config = dict(config)
    if config.pop("remove_rmsnorm", False):
        config["norm_type"] = "none"
    if config.pop("use_post_norm", False):
        config["norm_position"] = "post"
    if config.pop("remove_rope", False):
        config["use_rope"] = False
    if "weight_tying" in config:
        config["tie_embeddings"] = bool(config.pop("weight_tying"))
    return config


def config_from_object(cfg: Any) -> dict[str, Any]:
    """Constructor kwargs from a mapping, a dataclass or any object with the fields as attributes."""
    fields = (*REQUIRED_FIELDS, *OPTIONAL_FIELDS)
    if isinstance(cfg, Mapping):
        source = dict(cfg)
    elif dataclasses.is_dataclass(cfg) and not isinstance(cfg, type):
        source = dataclasses.asdict(cfg)
    else:
        source = {k: getattr(cfg, k) for k in fields if hasattr(cfg, k)}
    missing = [k for k in REQUIRED_FIELDS if k not in source]
    if missing:
        raise ConfigError(f"model config object lacks {', '.join(missing)}")
    return normalize_config({k: v for k, v in source.items() if k in fields})


def strip_compile_prefix(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Drop the `_orig_mod.` prefix that `torch.compile`d modules put on every state-dict key."""
    return {k.replace(_ORIG_MOD_PREFIX, ""): v for k, v in state.items()}


def save_pretrained(model: nn.Module, directory: str | Path) -> Path:
    """Write `config.json` (`model.config`) and `model.safetensors` (a tied LM head is stored once)."""
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / CONFIG_FILE).write_text(json.dumps(model.config, indent=2) + "\n")
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    if model.config.get("tie_embeddings"):
        state.pop("lm_head.weight")
    save_file(state, str(directory / WEIGHTS_FILE))
    return directory


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise BasicsError(f"could not read model config {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise BasicsError(f"model config {path} must hold a JSON object")
    return data


def _read_directory(directory: Path) -> tuple[dict[str, Any], dict[str, Tensor]]:
    if (directory / CONFIG_FILE).exists() and (directory / WEIGHTS_FILE).exists():
        from safetensors.torch import load_file

        config = _read_json(directory / CONFIG_FILE)
        try:
            state = load_file(str(directory / WEIGHTS_FILE))
        except Exception as exc:  # safetensors raises its own error types for corrupt files
            raise BasicsError(f"could not read weights {directory / WEIGHTS_FILE}: {exc}") from exc
        return config, state
    if (directory / A4_CONFIG_FILE).exists() and (directory / A4_WEIGHTS_FILE).exists():
        config = _read_json(directory / A4_CONFIG_FILE)
        try:
            state = torch.load(directory / A4_WEIGHTS_FILE, map_location="cpu", weights_only=True)
        except Exception as exc:  # pickle/zip errors of many kinds
            raise BasicsError(f"could not read weights {directory / A4_WEIGHTS_FILE}: {exc}") from exc
        if isinstance(state, dict) and isinstance(state.get("model"), dict):
            state = state["model"]
        if not isinstance(state, dict):
            raise BasicsError(f"{directory / A4_WEIGHTS_FILE} holds no state dict")
        return config, state
    raise BasicsError(
        f"{directory} holds no model: expected {CONFIG_FILE} + {WEIGHTS_FILE} or {A4_CONFIG_FILE} + {A4_WEIGHTS_FILE}"
    )


def load_pretrained(cls: type, directory: str | Path, *, device=None, dtype=None, **overrides) -> nn.Module:
    """Build `cls(**config, **overrides)` from a model directory and load its weights strictly."""
    directory = Path(directory)
    config, state = _read_directory(directory)
    config = {**normalize_config(config), **overrides}
    try:
        model = cls(**config, device=device, dtype=dtype)
    except TypeError as exc:
        raise ConfigError(f"bad model config in {directory}: {exc}") from exc
    state = strip_compile_prefix(state)
    if model.config.get("tie_embeddings") and "token_embeddings.weight" in state:
        state.setdefault("lm_head.weight", state["token_embeddings.weight"])
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise BasicsError(f"weights in {directory} do not match the config: {exc}") from exc
    return model
