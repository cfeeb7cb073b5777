"""Frozen-dataclass configs for every run type, loaded from TOML with `--set key.sub=value` overrides.

Precedence: dataclass defaults < `--config FILE.toml` < `--set` overrides (values parsed as TOML literals). Unknown
keys and type mismatches raise `ConfigError` naming the key and listing the valid ones. Sections map one-to-one to
TOML tables: `[model]`, `[data]`, `[sampling]`, `[optim]`, `[sft]`, `[ei]`, `[grpo]`, `[run]`.

    cs336-alignment grpo --config configs/debug_cpu.toml --set grpo.loss_type='"grpo_clip"' --dry-run
"""

import dataclasses
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cs336_alignment.errors import ConfigError
from cs336_alignment.grpo import LENGTH_NORMALIZATIONS, LOSS_TYPES
from cs336_alignment.rewards import PROMPT_NAMES

MODEL_KINDS = ("basics", "hf")
DTYPES = ("float32", "bfloat16", "float16")
DATA_FORMATS = ("synthetic", "gsm8k", "jsonl")
# Every top-level table any run type knows (the mini-a5 pipeline adds pretrain, stages, sft_optim, grpo_optim).
SECTIONS = (
    "model",
    "data",
    "sampling",
    "run",
    "optim",
    "sft",
    "ei",
    "grpo",
    "pretrain",
    "stages",
    "sft_optim",
    "grpo_optim",
)


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{name} = {value!r}; expected one of {', '.join(choices)}")


def _check_positive(**values: float) -> None:
    for name, value in values.items():
        if value <= 0:
            raise ConfigError(f"{name} must be > 0, got {value}")


@dataclass(frozen=True, kw_only=True)
class ModelConfig:
    kind: str = "basics"  # "basics": cs336_basics TransformerLM dir; "hf": a transformers model dir (e.g. Qwen2.5)
    path: str = ""  # model directory (save_pretrained layout); empty only for the synthetic pipeline's first stage
    tokenizer_path: str = ""  # defaults to <path>/tokenizer for "basics" and <path> for "hf"
    dtype: str = "float32"  # parameters and compute; bf16 for Qwen on GPU
    engine: str = "native"  # rollout engine: native (basics models), hf, vllm
    engine_device: str = ""  # "" = same device as the policy (shared weights); e.g. "cuda:1" for a replica / vLLM
    gpu_memory_utilization: float = 0.85  # vLLM only

    def __post_init__(self) -> None:
        _check_choice("model.kind", self.kind, MODEL_KINDS)
        _check_choice("model.dtype", self.dtype, DTYPES)
        _check_choice("model.engine", self.engine, ("native", "hf", "vllm"))
        if self.engine == "native" and self.kind != "basics":
            raise ConfigError("model.engine = 'native' needs model.kind = 'basics' (use 'hf' or 'vllm' for HF models)")


@dataclass(frozen=True, kw_only=True)
class DataConfig:
    format: str = "synthetic"  # synthetic (ArithWord), gsm8k ({question, answer "... #### N"}), jsonl (field map)
    train_path: str = ""
    val_path: str = ""
    question_key: str = "question"  # jsonl format: field names (MATH rows vary between copies)
    answer_key: str = "answer"
    response_key: str = "response"  # SFT traces; rows with "prompt"/"response" are taken as already formatted
    prompt: str = "r1_zero"  # prompt protocol: r1_zero | r1_zero_short | question_only
    num_train_examples: int = 0  # 0 = all; SFT dataset-size sweep {128, 256, 512, 1024, all}
    num_val_examples: int = 1024
    filter_correct: bool = False  # SFT: keep only traces whose answer the reward function accepts
    synthetic_seed: int = 0
    synthetic_min_steps: int = 1
    synthetic_max_steps: int = 3
    synthetic_max_value: int = 50
    synthetic_num_train: int = 20000

    def __post_init__(self) -> None:
        _check_choice("data.format", self.format, DATA_FORMATS)
        _check_choice("data.prompt", self.prompt, PROMPT_NAMES)
        if self.format != "synthetic" and not self.train_path and not self.val_path:
            raise ConfigError(f"data.format = {self.format!r} needs data.train_path or data.val_path")
        if not 1 <= self.synthetic_min_steps <= self.synthetic_max_steps:
            raise ConfigError(
                f"need 1 <= synthetic_min_steps ({self.synthetic_min_steps}) <= synthetic_max_steps "
                f"({self.synthetic_max_steps})"
            )


@dataclass(frozen=True, kw_only=True)
class SamplingConfig:
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 1024
    min_tokens: int = 4  # avoids empty responses (masked_mean of nothing is NaN)
    eval_temperature: float = 1.0  # the handout evaluates at temperature 1.0
    eval_max_tokens: int = 1024
    max_batch_rows: int = 256  # native engine: rows decoded together

    def __post_init__(self) -> None:
        _check_positive(max_tokens=self.max_tokens, eval_max_tokens=self.eval_max_tokens)
        if not 0 <= self.min_tokens <= self.max_tokens:
            raise ConfigError(f"sampling.min_tokens ({self.min_tokens}) must be in [0, {self.max_tokens}]")


@dataclass(frozen=True, kw_only=True)
class OptimConfig:
    lr: float = 1e-5
    weight_decay: float = 0.0
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0  # max-norm, applied after the last micro-batch and before the step
    warmup_steps: int = 0  # linear warm-up, then constant

    def __post_init__(self) -> None:
        _check_positive(lr=self.lr, grad_clip=self.grad_clip)


@dataclass(frozen=True, kw_only=True)
class SFTConfig:
    train_batch_size: int = 32
    gradient_accumulation_steps: int = 8
    num_epochs: int = 1
    max_steps: int = 0  # 0 = as many as the epochs give
    loss_normalization: str = "token_mean"  # token_mean | sequence_sum (handout: sum / normalize_constant)
    normalize_constant: float = 1.0  # sequence_sum only
    # > 0: end SFT at the first periodic evaluation whose answer accuracy reaches this (run.eval_every sets the
    # period). The mini-A5 proof uses it to hand the RL stages a checkpoint with headroom.
    stop_at_answer_accuracy: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.stop_at_answer_accuracy <= 1.0:
            raise ConfigError(f"sft.stop_at_answer_accuracy must be in [0, 1], got {self.stop_at_answer_accuracy}")
        _check_choice("sft.loss_normalization", self.loss_normalization, ("token_mean", "sequence_sum"))
        if self.train_batch_size % self.gradient_accumulation_steps:
            raise ConfigError(
                f"sft.train_batch_size ({self.train_batch_size}) must be divisible by "
                f"gradient_accumulation_steps ({self.gradient_accumulation_steps})"
            )

    @property
    def micro_batch_size(self) -> int:
        return self.train_batch_size // self.gradient_accumulation_steps


@dataclass(frozen=True, kw_only=True)
class EIConfig:
    n_ei_steps: int = 5
    questions_per_step: int = 512  # D_b in {512, 1024, 2048}
    group_size: int = 4  # G rollouts per question
    sft_epochs: int = 1

    def __post_init__(self) -> None:
        _check_positive(n_ei_steps=self.n_ei_steps, questions_per_step=self.questions_per_step, G=self.group_size)


@dataclass(frozen=True, kw_only=True)
class GRPOConfig:
    n_grpo_steps: int = 200
    rollout_batch_size: int = 256
    group_size: int = 8
    advantage_eps: float = 1e-6
    use_std_normalization: bool = True
    loss_type: str = "reinforce_with_baseline"
    length_normalization: str = "masked_mean"  # masked_normalize divides by sampling.max_tokens instead
    epochs_per_rollout_batch: int = 1  # > 1 is off-policy
    train_batch_size: int = 256
    gradient_accumulation_steps: int = 128
    cliprange: float = 0.2

    def __post_init__(self) -> None:
        _check_choice("grpo.loss_type", self.loss_type, LOSS_TYPES)
        _check_choice("grpo.length_normalization", self.length_normalization, LENGTH_NORMALIZATIONS)
        if self.rollout_batch_size % self.group_size:
            raise ConfigError(
                f"grpo.rollout_batch_size ({self.rollout_batch_size}) must be divisible by group_size "
                f"({self.group_size})"
            )
        if self.train_batch_size % self.gradient_accumulation_steps:
            raise ConfigError(
                f"grpo.train_batch_size ({self.train_batch_size}) must be divisible by gradient_accumulation_steps "
                f"({self.gradient_accumulation_steps})"
            )
        if self.rollout_batch_size % self.train_batch_size:
            raise ConfigError(
                f"grpo.rollout_batch_size ({self.rollout_batch_size}) must be divisible by train_batch_size "
                f"({self.train_batch_size})"
            )
        if self.train_batch_size < self.group_size:
            raise ConfigError(f"train_batch_size ({self.train_batch_size}) must be >= group_size ({self.group_size})")
        if self.use_std_normalization and self.group_size < 2:
            raise ConfigError("use_std_normalization needs group_size >= 2")
        if self.is_off_policy and self.loss_type not in ("grpo_clip", "grpo_no_clip"):
            raise ConfigError(
                f"off-policy settings (epochs_per_rollout_batch={self.epochs_per_rollout_batch}, "
                f"{self.optimizer_steps_per_rollout_batch} steps per rollout batch) need loss_type grpo_clip or "
                f"grpo_no_clip, got {self.loss_type!r}"
            )

    @property
    def micro_train_batch_size(self) -> int:
        return self.train_batch_size // self.gradient_accumulation_steps

    @property
    def n_prompts_per_rollout_batch(self) -> int:
        return self.rollout_batch_size // self.group_size

    @property
    def optimizer_steps_per_rollout_batch(self) -> int:
        return self.epochs_per_rollout_batch * self.rollout_batch_size // self.train_batch_size

    @property
    def is_off_policy(self) -> bool:
        return self.optimizer_steps_per_rollout_batch > 1


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    name: str = "run"
    out_dir: str = "runs"
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    eval_every: int = 10  # optimizer steps (GRPO/SFT) or EI steps between evaluations; 0 = only at the end
    log_every: int = 1
    ckpt_every: int = 0  # 0 = only the final checkpoint
    resume: str = ""  # a checkpoint file (ckpt/step_N.pt) to continue from
    wandb: bool = False
    wandb_project: str = "cs336-alignment"
    num_example_rollouts: int = 4  # rollouts written to samples.jsonl at each evaluation
    time_budget_s: float = 0.0  # 0 = no budget; otherwise stop training (then evaluate and save) after this long


@dataclass(frozen=True, kw_only=True)
class EvalRunConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    run: RunConfig = field(default_factory=RunConfig)


@dataclass(frozen=True, kw_only=True)
class SFTRunConfig(EvalRunConfig):
    optim: OptimConfig = field(default_factory=OptimConfig)
    sft: SFTConfig = field(default_factory=SFTConfig)


@dataclass(frozen=True, kw_only=True)
class EIRunConfig(SFTRunConfig):
    ei: EIConfig = field(default_factory=EIConfig)


@dataclass(frozen=True, kw_only=True)
class GRPORunConfig(EvalRunConfig):
    optim: OptimConfig = field(default_factory=OptimConfig)
    grpo: GRPOConfig = field(default_factory=GRPOConfig)


# ---------------------------------------------------------------------------------------------------------------
# TOML loading


def _coerce(name: str, value: Any, annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if annotation in (int, str, bool, float):
        if type(value) is not annotation:
            raise ConfigError(f"{name} must be {annotation.__name__}, got {value!r} ({type(value).__name__})")
        return value
    if origin in (tuple, list) and isinstance(value, list | tuple):
        return tuple(value)
    if origin in (types.UnionType, typing.Union):
        return value
    return value


def _dataclass_default(field: dataclasses.Field, annotation: type) -> Any:
    """The field's own default instance when it differs from `annotation()` (a factory such as
    `lambda: OptimConfig(lr=3e-4)`), else None: build from the nested class's defaults."""
    factory = field.default_factory
    if factory is not dataclasses.MISSING and factory is not annotation:
        return factory()
    return field.default if dataclasses.is_dataclass(field.default) else None


def build_dataclass(cls: type, values: dict[str, Any], prefix: str = "", base: Any = None) -> Any:
    """Instantiate a (nested) config dataclass from a plain dict, refusing unknown keys and wrong types. A partial
    table for a nested dataclass field starts from that field's own default (e.g. a `default_factory` with other
    values than the nested class's defaults), and `base`, when given, supplies the values of keys not in `values`."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(f"unknown key {prefix}{unknown[0]}; valid keys: {', '.join(sorted(fields))}")
    kwargs = {}
    for key, value in values.items():
        annotation = hints[key]
        if dataclasses.is_dataclass(annotation):
            if not isinstance(value, dict):
                raise ConfigError(f"{prefix}{key} must be a table, got {value!r}")
            sub_base = getattr(base, key) if base is not None else _dataclass_default(fields[key], annotation)
            kwargs[key] = build_dataclass(annotation, value, f"{prefix}{key}.", base=sub_base)
        else:
            kwargs[key] = _coerce(prefix + key, value, annotation)
    try:
        return dataclasses.replace(base, **kwargs) if base is not None else cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"bad config for {cls.__name__}: {exc}") from exc


def _parse_override(text: str) -> tuple[list[str], Any]:
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like section.key=value")
    key, raw = text.split("=", 1)
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw  # bare words are strings: --set run.name=foo
    return key.strip().split("."), value


def load_config(cls: type, path: str | Path | None = None, overrides: list[str] | None = None) -> Any:
    """defaults < TOML file < `section.key=value` overrides.

    A file may carry tables of other run types (one debug file serves eval, sft, expert-iter, grpo and mini-a5):
    a top-level table in `SECTIONS` that `cls` does not have is skipped; any other unknown key is an error.
    """
    values: dict[str, Any] = {}
    if path:
        try:
            values = tomllib.loads(Path(path).read_text())
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
        own = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in values.items() if k in own or k not in SECTIONS}
    for text in overrides or []:
        keys, value = _parse_override(text)
        node = values
        for k in keys[:-1]:
            node = node.setdefault(k, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {text!r}: {k} is not a table")
        node[keys[-1]] = value
    return build_dataclass(cls, values)


def config_to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)
