"""Frozen dataclass configuration for `cs336-basics train` (style guide §2.4).

Precedence: dataclass defaults < `--config FILE.toml` < `--set section.key=value` overrides (values parsed as TOML
literals, so `--set optim.lr=3e-4`, `--set run.name="x"` and `--set data.train_path='"a.npy"'` all work; a bare word
that is not a TOML literal is taken as a string). Each section validates itself in `__post_init__`; an unknown key
or a type mismatch raises `ConfigError` naming the key and the valid keys.

    uv run cs336-basics train --config configs/debug_cpu.toml --set optim.lr=1e-3 --dry-run
"""

import dataclasses
import json
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cs336_basics.errors import ConfigError

DTYPES = ("fp32", "bf16")
DEVICES = ("auto", "cpu", "cuda", "mps")
NORM_TYPES = ("rmsnorm", "none")
NORM_POSITIONS = ("pre", "post")
FFN_TYPES = ("swiglu", "silu")
CORPUS_KINDS = ("none", "synthetic-stories")
PARALLEL_MODES = ("none", "ddp", "fsdp")  # ddp/fsdp come from cs336-systems (cs336_basics.parallel)


def _check_positive(section: str, **values: float) -> None:
    for name, value in values.items():
        if value <= 0:
            raise ConfigError(f"{section}.{name} must be > 0, got {value}")


def _check_choice(section: str, name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{section}.{name} must be one of {list(choices)}, got {value!r}")


@dataclass(frozen=True, kw_only=True)
class ModelConfig:
    """TransformerLM constructor arguments. Defaults are the handout's TinyStories 17M shape."""

    vocab_size: int = 10_000
    context_length: int = 256  # also the RoPE table length: training windows may not be longer
    d_model: int = 512
    num_layers: int = 4
    num_heads: int = 16
    d_ff: int = 1344  # ~8/3 d_model, a multiple of 64
    rope_theta: float = 10_000.0
    norm_type: str = "rmsnorm"
    norm_position: str = "pre"
    use_rope: bool = True
    ffn_type: str = "swiglu"
    tie_embeddings: bool = False
    attn_backend: str = "ours"  # "torch" uses F.scaled_dot_product_attention (flash kernels on CUDA)
    vocab_pad_multiple: int = 1  # pad the LM head's rows to a multiple (64 for GPT-2's 50,257): aligned GEMMs

    def __post_init__(self) -> None:
        _check_positive(
            "model",
            vocab_size=self.vocab_size,
            context_length=self.context_length,
            d_model=self.d_model,
            num_layers=self.num_layers,
            num_heads=self.num_heads,
            d_ff=self.d_ff,
            rope_theta=self.rope_theta,
            vocab_pad_multiple=self.vocab_pad_multiple,
        )
        if self.d_model % self.num_heads:
            raise ConfigError(f"model.d_model ({self.d_model}) must be divisible by model.num_heads ({self.num_heads})")
        if self.use_rope and self.d_k % 2:
            raise ConfigError(f"RoPE needs an even head dim, got d_model/num_heads = {self.d_k}")
        if self.vocab_size > 65_536:
            raise ConfigError(f"model.vocab_size ({self.vocab_size}) does not fit the uint16 token files (max 65536)")
        _check_choice("model", "norm_type", self.norm_type, NORM_TYPES)
        _check_choice("model", "norm_position", self.norm_position, NORM_POSITIONS)
        _check_choice("model", "ffn_type", self.ffn_type, FFN_TYPES)

    @property
    def d_k(self) -> int:
        return self.d_model // self.num_heads

    def model_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `cs336_basics.model.TransformerLM`."""
        return dataclasses.asdict(self)


@dataclass(frozen=True, kw_only=True)
class OptimConfig:
    """AdamW + cosine schedule with linear warmup (handout §4.4) + global-norm clipping."""

    lr: float = 1e-3  # peak learning rate, reached after warmup_steps
    min_lr: float = 1e-4  # cosine floor, usually lr / 10
    warmup_steps: int = 100
    betas: tuple[float, float] = (0.9, 0.95)
    eps: float = 1e-8
    weight_decay: float = 0.1
    grad_clip: float = 1.0  # max global L2 norm; 0 disables clipping

    def __post_init__(self) -> None:
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
        _check_positive("optim", lr=self.lr, eps=self.eps)
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ConfigError(f"optim.betas must be two numbers in [0, 1), got {list(self.betas)}")
        if not 0 <= self.min_lr <= self.lr:
            raise ConfigError(f"optim.min_lr ({self.min_lr}) must be in [0, optim.lr ({self.lr})]")
        for name in ("warmup_steps", "weight_decay", "grad_clip"):
            if getattr(self, name) < 0:
                raise ConfigError(f"optim.{name} must be >= 0, got {getattr(self, name)}")


@dataclass(frozen=True, kw_only=True)
class DataConfig:
    """uint16 token files (`.npy` from `cs336-basics encode`, or raw `.bin`) and the batch shape."""

    train_path: str = "data/train.npy"
    val_path: str = "data/val.npy"
    tokenizer_dir: str = ""  # vocab.json + merges.txt, used for samples at the end of training; "" = none
    batch_size: int = 32  # sequences per micro-batch
    grad_accum_steps: int = 1  # micro-batches per optimizer step
    seq_len: int = 0  # training window; 0 = model.context_length
    # Sequences per optimizer step over all ranks; 0 = batch_size * world size * grad_accum_steps. When set,
    # grad_accum_steps is derived from it, so the run trains the same way on any world size (resume 2 -> 1 GPUs).
    global_batch_size: int = 0

    def __post_init__(self) -> None:
        _check_positive("data", batch_size=self.batch_size, grad_accum_steps=self.grad_accum_steps)
        if self.seq_len < 0:
            raise ConfigError(f"data.seq_len must be >= 0, got {self.seq_len}")
        if self.global_batch_size < 0:
            raise ConfigError(f"data.global_batch_size must be >= 0, got {self.global_batch_size}")

    def accum_steps(self, world_size: int) -> int:
        """Micro-steps per optimizer step on `world_size` ranks (each rank runs batch_size sequences each)."""
        if not self.global_batch_size:
            return self.grad_accum_steps
        per_micro_step = self.batch_size * world_size
        accum, rest = divmod(self.global_batch_size, per_micro_step)
        if rest or not accum:
            raise ConfigError(
                f"data.global_batch_size ({self.global_batch_size}) is not a multiple of data.batch_size "
                f"({self.batch_size}) x world size ({world_size})"
            )
        if self.grad_accum_steps not in (1, accum):
            raise ConfigError(
                f"data.grad_accum_steps ({self.grad_accum_steps}) contradicts data.global_batch_size "
                f"({self.global_batch_size}) = batch_size {self.batch_size} x world {world_size} x {accum}; "
                "leave grad_accum_steps at 1 when global_batch_size is set"
            )
        return accum


@dataclass(frozen=True, kw_only=True)
class CorpusConfig:
    """Optional offline corpus built before training: generate text -> train BPE -> encode into the run dir."""

    kind: str = "none"  # "synthetic-stories": the embedded children's-story generator (cs336_basics.corpus)
    num_docs: int = 4000
    seed: int = 0
    val_fraction: float = 0.05

    def __post_init__(self) -> None:
        _check_choice("corpus", "kind", self.kind, CORPUS_KINDS)
        _check_positive("corpus", num_docs=self.num_docs)
        if not 0 < self.val_fraction < 1:
            raise ConfigError(f"corpus.val_fraction must be in (0, 1), got {self.val_fraction}")


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    """Everything about one run that is not the model, optimizer or data."""

    name: str = "run"
    out_dir: str = "runs"
    seed: int = 0
    device: str = "auto"  # auto = cuda, else mps, else cpu
    num_steps: int = 1000  # optimizer steps; the cosine decay ends exactly here
    max_wall_clock_s: float = 0.0  # stop (with a checkpoint) after this many seconds of training; 0 = no limit
    dtype: str = "fp32"  # "bf16" = bf16 autocast for matmuls, fp32 master weights
    compile: bool = False  # torch.compile the model
    tf32: bool = True  # TF32 matmuls on CUDA (never enabled on MPS)
    num_threads: int = 0  # torch CPU threads; 0 = torch's default. 1 is steadier on a busy shared CPU
    log_every: int = 10
    eval_every: int = 100
    eval_batches: int = 10  # fixed validation batches (same windows at every eval)
    ckpt_every: int = 500  # 0 = only at the end and on SIGINT/SIGTERM
    keep_last: int = 0  # keep only the newest k checkpoints of the run; 0 = keep all
    parallel: str = "none"  # "ddp" | "fsdp": data parallel under torchrun (cs336-systems provides them)
    ddp_bucket_mb: float = 0.0  # parallel = "ddp": 0 = one all-reduce per parameter, else buckets of this size
    progress: bool = True  # tqdm bar on stderr
    wandb: bool = False
    wandb_project: str = "cs336-basics"
    sample_prompts: list[str] = field(default_factory=lambda: ["Once upon a time"])
    sample_max_new_tokens: int = 64
    sample_temperature: float = 0.8
    sample_top_p: float = 0.95

    def __post_init__(self) -> None:
        object.__setattr__(self, "sample_prompts", list(self.sample_prompts))
        _check_choice("run", "device", self.device, DEVICES)
        _check_choice("run", "dtype", self.dtype, DTYPES)
        _check_choice("run", "parallel", self.parallel, PARALLEL_MODES)
        _check_positive("run", num_steps=self.num_steps, log_every=self.log_every, eval_every=self.eval_every)
        for name in (
            "max_wall_clock_s",
            "num_threads",
            "eval_batches",
            "ckpt_every",
            "keep_last",
            "ddp_bucket_mb",
            "sample_max_new_tokens",
            "sample_temperature",
        ):
            if getattr(self, name) < 0:
                raise ConfigError(f"run.{name} must be >= 0, got {getattr(self, name)}")
        if not 0 < self.sample_top_p <= 1:
            raise ConfigError(f"run.sample_top_p must be in (0, 1], got {self.sample_top_p}")


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """One training run: `[model]`, `[optim]`, `[data]`, `[corpus]`, `[run]` tables of the TOML file."""

    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    data: DataConfig = field(default_factory=DataConfig)
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def __post_init__(self) -> None:
        if self.seq_len > self.model.context_length:
            raise ConfigError(
                f"data.seq_len ({self.seq_len}) exceeds model.context_length ({self.model.context_length}), "
                "the length of the RoPE table"
            )
        if self.data.global_batch_size % self.data.batch_size:
            raise ConfigError(
                f"data.global_batch_size ({self.data.global_batch_size}) must be a multiple of data.batch_size "
                f"({self.data.batch_size}), the sequences per rank and micro-step"
            )
        if self.optim.warmup_steps > self.run.num_steps:
            raise ConfigError(
                f"optim.warmup_steps ({self.optim.warmup_steps}) exceeds run.num_steps ({self.run.num_steps})"
            )

    @property
    def seq_len(self) -> int:
        return self.data.seq_len or self.model.context_length

    @property
    def tokens_per_step(self) -> int:
        """Tokens per optimizer step of a one-process run (train() multiplies in the world size)."""
        sequences = self.data.global_batch_size or self.data.batch_size * self.data.grad_accum_steps
        return sequences * self.seq_len

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


# ---------------------------------------------------------------------------------------------------------------
# Building a config from nested dicts (TOML tables, checkpoint copies) with type checks.


def _type_ok(value: Any, annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if annotation is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation in (bool, str):
        return isinstance(value, annotation)
    if origin in (list, tuple):
        (inner, *_) = typing.get_args(annotation) or (Any,)
        return isinstance(value, list | tuple) and all(inner is Any or _type_ok(v, inner) for v in value)
    if origin in (types.UnionType, typing.Union):
        return any(_type_ok(value, arg) for arg in typing.get_args(annotation))
    return True


def _build(cls: type, values: dict[str, Any], prefix: str) -> Any:
    if not isinstance(values, dict):
        raise ConfigError(f"[{prefix}] must be a table, got {values!r}")
    hints = typing.get_type_hints(cls)
    valid = [f.name for f in dataclasses.fields(cls)]
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}.{key}" if prefix else key
        if key not in valid:
            raise ConfigError(f"unknown config key {name!r}; valid keys: {', '.join(valid)}")
        annotation = hints[key]
        if dataclasses.is_dataclass(annotation):
            kwargs[key] = _build(annotation, value, name)
        elif not _type_ok(value, annotation):
            type_name = getattr(annotation, "__name__", str(annotation))
            raise ConfigError(f"config key {name!r} expects {type_name}, got {type(value).__name__} {value!r}")
        else:
            kwargs[key] = float(value) if annotation is float else value
    try:
        return cls(**kwargs)
    except TypeError as exc:  # pragma: no cover - every field has a default, kept as a safety net
        raise ConfigError(f"[{prefix}]: {exc}") from exc


def config_from_dict(values: dict[str, Any]) -> TrainConfig:
    """Validate a nested dict (TOML tables or a checkpoint's `config`) into a TrainConfig."""
    return _build(TrainConfig, values, "")


def _parse_literal(text: str) -> Any:
    """Parse the right-hand side of `--set` as a TOML literal; bare words fall back to strings."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(values: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `section.key=value` strings to a nested dict (returns a new dict)."""
    merged = json.loads(json.dumps(values))
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects key.sub=value, got {item!r}")
        *sections, leaf = key.strip().split(".")
        node = merged
        for section in sections:
            node = node.setdefault(section, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {key}: {section!r} is not a table")
        node[leaf] = _parse_literal(raw.strip())
    return merged


def read_toml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot parse config file {path}: {exc}") from exc


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> TrainConfig:
    """Defaults < TOML file < overrides, validated."""
    values = read_toml(path) if path is not None else {}
    return config_from_dict(apply_overrides(values, overrides or []))
