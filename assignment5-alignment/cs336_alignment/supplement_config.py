"""Frozen-dataclass configs of the supplement's run types: instruction tuning, the four evaluations, DPO.

Same loading rules as `config.py` (defaults < `--config FILE.toml` < `--set`); `[model]` and `[run]` are the RL
tables reused as they are. New tables: `[init]` (a fresh assignment-1 model when `model.path` is empty),
`[instruct_data]`, `[schedule]`, `[instruct]`, `[task]`, `[judge]`, `[pref_data]`, `[dpo]`.

    cs336-alignment instruct-tune --config configs/instruct_debug_cpu.toml --dry-run
"""

from dataclasses import dataclass, field

from cs336_alignment.config import ModelConfig, RunConfig, _check_choice, _check_positive
from cs336_alignment.errors import ConfigError

EVAL_TASKS = ("mmlu", "gsm8k", "alpaca_eval", "sst")
EVAL_PROMPTS = ("alpaca", "zero_shot")
JUDGE_KINDS = ("none", "model", "refusal_keywords")


@dataclass(frozen=True, kw_only=True)
class InitConfig:
    """Architecture of a freshly initialised assignment-1 TransformerLM (vocabulary size = the tokenizer's)."""

    context_length: int = 256
    d_model: int = 256
    num_layers: int = 4
    num_heads: int = 4
    d_ff: int = 768
    attn_backend: str = "torch"  # torch's fused SDPA for speed; "ours" is the graded implementation
    vocab_pad_multiple: int = 64  # aligned LM-head GEMMs (GPT-2's 50,257 rows -> 50,304); same function

    def __post_init__(self) -> None:
        _check_positive(context_length=self.context_length, d_model=self.d_model, num_layers=self.num_layers)
        if self.d_model % self.num_heads:
            raise ConfigError(f"init.d_model ({self.d_model}) must be divisible by num_heads ({self.num_heads})")


@dataclass(frozen=True, kw_only=True)
class ScheduleConfig:
    """Optimizer and learning-rate schedule: linear warm-up, then cosine decay to `min_lr_ratio * lr` (or constant)."""

    optimizer: str = "adamw"  # adamw | rmsprop (DPO recipe: RMSprop, AdamW states do not fit for 8B)
    lr: float = 2e-5
    min_lr_ratio: float = 0.0
    schedule: str = "cosine"  # cosine | constant
    warmup_ratio: float = 0.03  # of the total optimizer steps; the handout's 3 %
    weight_decay: float = 0.0
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0

    def __post_init__(self) -> None:
        _check_choice("schedule.optimizer", self.optimizer, ("adamw", "rmsprop"))
        _check_choice("schedule.schedule", self.schedule, ("cosine", "constant"))
        _check_positive(lr=self.lr, grad_clip=self.grad_clip)
        if not 0 <= self.warmup_ratio < 1 or not 0 <= self.min_lr_ratio <= 1:
            raise ConfigError(
                f"schedule.warmup_ratio ({self.warmup_ratio}) must be in [0, 1) and min_lr_ratio "
                f"({self.min_lr_ratio}) in [0, 1]"
            )


@dataclass(frozen=True, kw_only=True)
class InstructDataConfig:
    format: str = "synthetic"  # synthetic (instruct_synthetic) | jsonl ({"prompt", "response"} rows, .gz allowed)
    train_path: str = ""
    val_path: str = ""
    seq_length: int = 512
    shuffle: bool = True  # document order before packing, and batch order every epoch
    synthetic_num_train: int = 20000
    synthetic_num_val: int = 500
    synthetic_seed: int = 0

    def __post_init__(self) -> None:
        _check_choice("instruct_data.format", self.format, ("jsonl", "synthetic"))
        if self.format == "jsonl" and not self.train_path:
            raise ConfigError("instruct_data.format = 'jsonl' needs instruct_data.train_path")
        _check_positive(seq_length=self.seq_length)


@dataclass(frozen=True, kw_only=True)
class InstructConfig:
    batch_size: int = 32  # sequences per optimizer step (handout: 32)
    gradient_accumulation_steps: int = 16  # micro-batch = batch_size / this (handout: 2 per micro-batch)
    num_epochs: int = 1
    max_steps: int = 0  # 0 = as many as the epochs give
    eval_every: int = 50  # optimizer steps between validation-loss passes; 0 = only at the end
    max_eval_batches: int = 0  # 0 = the whole validation set
    use_bf16_autocast: bool = True  # CUDA only

    def __post_init__(self) -> None:
        if self.batch_size % self.gradient_accumulation_steps:
            raise ConfigError(
                f"instruct.batch_size ({self.batch_size}) must be divisible by gradient_accumulation_steps "
                f"({self.gradient_accumulation_steps})"
            )

    @property
    def micro_batch_size(self) -> int:
        return self.batch_size // self.gradient_accumulation_steps


@dataclass(frozen=True, kw_only=True)
class InstructRunConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    init: InitConfig = field(default_factory=InitConfig)
    instruct_data: InstructDataConfig = field(default_factory=InstructDataConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    instruct: InstructConfig = field(default_factory=InstructConfig)
    run: RunConfig = field(default_factory=RunConfig)


@dataclass(frozen=True, kw_only=True)
class TaskConfig:
    """One evaluation task. Greedy decoding (temperature 0, top-p 1) as the supplement asks."""

    name: str = "mmlu"  # mmlu | gsm8k | alpaca_eval | sst
    path: str = ""  # MMLU: a folder of <subject>_<split>.csv (or their parent); others: the .jsonl / .csv file
    prompt: str = "alpaca"  # alpaca (our instruction-tuned models) | zero_shot (the system prompt, base models)
    max_examples: int = 0  # 0 = all
    max_tokens: int = 0  # 0 = per-task default (MMLU 32, GSM8K 256, AlpacaEval / SST 256)
    temperature: float = 0.0
    max_batch_rows: int = 256  # native engine: rows decoded together
    generator: str = ""  # AlpacaEval `generator` field; "" = the model directory's name
    num_failures: int = 10  # examples of each failure kind kept in summary.json

    def __post_init__(self) -> None:
        _check_choice("task.name", self.name, EVAL_TASKS)
        _check_choice("task.prompt", self.prompt, EVAL_PROMPTS)
        if not self.path:
            raise ConfigError(f"task.path is empty; point it at the {self.name} data (see ../shared/data/README.md)")


@dataclass(frozen=True, kw_only=True)
class JudgeConfig:
    """`model`: a local HF model directory judged through the hf (or vllm) engine; `none`: metric not computed."""

    kind: str = "none"  # none | model | refusal_keywords (SST only; a heuristic, reported as such)
    path: str = ""
    engine: str = "hf"  # hf | vllm
    dtype: str = "bfloat16"
    device: str = ""  # "" = the evaluated model's device
    max_tokens: int = 16
    seed: int = 0

    def __post_init__(self) -> None:
        _check_choice("judge.kind", self.kind, JUDGE_KINDS)
        _check_choice("judge.engine", self.engine, ("hf", "vllm"))
        if self.kind == "model" and not self.path:
            raise ConfigError("judge.kind = 'model' needs judge.path (a local HF model directory)")


@dataclass(frozen=True, kw_only=True)
class SupEvalRunConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    task: TaskConfig = field(default_factory=TaskConfig)
    judge: JudgeConfig = field(default_factory=JudgeConfig)
    run: RunConfig = field(default_factory=RunConfig)


@dataclass(frozen=True, kw_only=True)
class PrefDataConfig:
    format: str = "synthetic"  # synthetic (instruct_synthetic) | jsonl ({prompt, chosen, rejected} rows) | hh
    train_path: str = ""  # hh: a folder holding the four Anthropic HH train files (*.jsonl.gz)
    val_path: str = ""  # "" = hold out num_val pairs from the training rows
    num_val: int = 200
    synthetic_num_train: int = 4000
    synthetic_seed: int = 0
    max_pairs: int = 0  # 0 = all training pairs

    def __post_init__(self) -> None:
        _check_choice("pref_data.format", self.format, ("jsonl", "synthetic", "hh"))
        if self.format != "synthetic" and not self.train_path:
            raise ConfigError(f"pref_data.format = {self.format!r} needs pref_data.train_path")


@dataclass(frozen=True, kw_only=True)
class DPOConfig:
    beta: float = 0.1
    micro_batch_pairs: int = 1  # pairs per forward (the handout: no batching)
    gradient_accumulation_steps: int = 64  # effective batch = micro_batch_pairs * this (handout: 64)
    num_epochs: int = 1
    max_steps: int = 0
    eval_every: int = 10  # optimizer steps between validation passes
    precompute_reference: bool = True  # score every pair with the reference once, then free the reference model
    reference_cache: str = ""  # a reference_logps.pt from an earlier run with the same data and reference
    reference_device: str = ""  # "" = the policy's device (e.g. "cuda:1" keeps the frozen copy on GPU 1)
    best_metric: str = "eval/pref_accuracy"  # or eval/reward_accuracy, eval/reward_margin
    use_bf16_autocast: bool = True  # CUDA only
    save_best: bool = True

    def __post_init__(self) -> None:
        _check_positive(beta=self.beta, micro_batch_pairs=self.micro_batch_pairs)
        _check_positive(gradient_accumulation_steps=self.gradient_accumulation_steps)
        _check_choice("dpo.best_metric", self.best_metric, DPO_BEST_METRICS)

    @property
    def pairs_per_step(self) -> int:
        return self.micro_batch_pairs * self.gradient_accumulation_steps


DPO_BEST_METRICS = ("eval/pref_accuracy", "eval/reward_accuracy", "eval/reward_margin")


@dataclass(frozen=True, kw_only=True)
class DPOScheduleConfig(ScheduleConfig):
    """The handout's DPO optimizer: RMSprop, lr 1e-6, constant (a class, so `--set schedule.x=...` keeps these)."""

    optimizer: str = "rmsprop"
    lr: float = 1e-6
    schedule: str = "constant"
    warmup_ratio: float = 0.0


@dataclass(frozen=True, kw_only=True)
class DPORunConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    pref_data: PrefDataConfig = field(default_factory=PrefDataConfig)
    schedule: DPOScheduleConfig = field(default_factory=DPOScheduleConfig)
    dpo: DPOConfig = field(default_factory=DPOConfig)
    run: RunConfig = field(default_factory=RunConfig)
