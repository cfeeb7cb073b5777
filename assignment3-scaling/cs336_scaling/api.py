"""Pydantic schemas of the training API (spec §1.4, §2.1-2.2): the HTTP contract of the course's 26.0.1 API.

Every model is frozen with `extra="forbid"`, so unknown keys are a 422 that names the key. Deviations from the
course's schemas, each deliberate:
- The optimizer configs carry a discriminator `type` ("adamw" | "sgd"). A body without it is still accepted and
  parsed the old way (a config with only `lr_scheduler`/`grad_clip_norm` is SGD, anything else AdamW), with a warning.
- `unique_id` is computed from the dumped fields on every call, never cached, so `model_copy(update=...)` cannot
  carry a stale hash (course quirk §2.7).
"""

import hashlib
import json
import logging
import warnings
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

logger = logging.getLogger(__name__)

SEQ_LEN = 512
N_VAL_TOKENS = 2**18
N_VAL_SEQUENCES = N_VAL_TOKENS // SEQ_LEN
MAX_TRAIN_TOKENS = 500_000_000_000
MAX_RUNTIME_SECONDS = 12 * 3600.0


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class ArchitectureConfig(Frozen):
    hidden_size: int = Field(gt=0)
    head_dim: int = Field(gt=0)
    num_attention_heads: int = Field(gt=0)
    num_key_value_heads: int = Field(gt=0)
    num_hidden_layers: int = Field(gt=0)
    intermediate_size: int = Field(gt=0)
    vocab_size: int = Field(default=32000, gt=0)
    attention_bias: bool = False
    tie_word_embeddings: bool = False
    rms_norm_eps: float = Field(default=1e-6, gt=0)
    rope_theta: int = Field(default=10000, gt=0)
    dtype: Literal["float32", "bfloat16"] = "bfloat16"

    @field_validator("head_dim")
    @classmethod
    def _even_head_dim(cls, v: int) -> int:
        if v % 2:
            raise ValueError(f"head_dim ({v}) must be even for RoPE")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> "ArchitectureConfig":
        if self.hidden_size != self.num_attention_heads * self.head_dim:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must equal num_attention_heads ({self.num_attention_heads}) "
                f"* head_dim ({self.head_dim})"
            )
        if self.num_key_value_heads != self.num_attention_heads:
            raise ValueError(
                f"num_key_value_heads ({self.num_key_value_heads}) must equal num_attention_heads "
                f"({self.num_attention_heads}); grouped-query attention is not supported"
            )
        if self.intermediate_size < self.hidden_size:
            raise ValueError(
                f"intermediate_size ({self.intermediate_size}) must be >= hidden_size ({self.hidden_size})"
            )
        return self

    @property
    def non_embedding_params(self) -> int:
        """Exact non-embedding count: attention 4d² (+bias), SwiGLU 3·d·d_ff, 2 RMSNorms + QK-norms per layer."""
        d, f = self.hidden_size, self.intermediate_size
        per_layer = 4 * d * d + 3 * d * f + 2 * d + 2 * self.head_dim + (4 * d if self.attention_bias else 0)
        return self.num_hidden_layers * per_layer + d

    @property
    def embedding_params(self) -> int:
        return self.vocab_size * self.hidden_size * (1 if self.tie_word_embeddings else 2)


class WarmupCosineDecay(Frozen):
    peak_value: float = Field(default=3e-4, gt=0)
    final_lr_frac: float = Field(default=0.1, ge=0, le=1)
    warmup_frac: float = Field(default=0.05, ge=0, lt=1)
    init_value: float = Field(default=0.0, ge=0)

    def lr_at(self, step: int, total_steps: int) -> float:
        """optax warmup_cosine_decay_schedule: decay length counts the warmup; ends at peak * final_lr_frac."""
        import math

        warmup = int(total_steps * self.warmup_frac)
        if step < warmup:
            return self.init_value + (self.peak_value - self.init_value) * step / warmup
        decay = max(1, total_steps - warmup)
        frac = min(1.0, (step - warmup) / decay)
        end = self.peak_value * self.final_lr_frac
        return end + (self.peak_value - end) * 0.5 * (1 + math.cos(math.pi * frac))


class AdamWConfig(Frozen):
    type: Literal["adamw"] = "adamw"
    lr_scheduler: WarmupCosineDecay = WarmupCosineDecay()
    weight_decay: float = Field(default=0.01, ge=0)
    beta1: float = Field(default=0.9, ge=0, lt=1)
    beta2: float = Field(default=0.95, ge=0, lt=1)
    eps: float = Field(default=1e-8, gt=0)
    eps_root: float = Field(default=1e-8, ge=0)
    grad_clip_norm: float | None = Field(default=1.0, gt=0)


class SGDConfig(Frozen):
    type: Literal["sgd"] = "sgd"
    lr_scheduler: WarmupCosineDecay
    grad_clip_norm: float | None = Field(default=1.0, gt=0)


_SGD_KEYS = {"lr_scheduler", "grad_clip_norm"}


def _legacy_optimizer(value: Any) -> Any:
    """Add the discriminator to a body written for the course API (which had none); see the module docstring."""
    if isinstance(value, dict) and "type" not in value:
        kind = "sgd" if set(value) <= _SGD_KEYS else "adamw"
        warnings.warn(
            f"optimizer_config without 'type' parsed as {kind!r} (course API rule); add \"type\" to be explicit",
            UserWarning,
            stacklevel=2,
        )
        return {**value, "type": kind}
    return value


OptimizerConfig = Annotated[AdamWConfig | SGDConfig, Field(discriminator="type")]


class TrainingConfig(Frozen):
    architecture_config: ArchitectureConfig
    optimizer_config: OptimizerConfig
    train_batch_size: int = Field(gt=0)
    val_batch_size: int = Field(default=64, gt=0)
    n_evals: int = Field(default=16, gt=0)
    total_train_tokens: int = Field(gt=0, le=MAX_TRAIN_TOKENS)
    max_runtime_seconds: float = Field(ge=1, le=MAX_RUNTIME_SECONDS)
    model_seed: int = Field(default=0, ge=0)

    @field_validator("optimizer_config", mode="before")
    @classmethod
    def _discriminate(cls, v: Any) -> Any:
        return _legacy_optimizer(v)

    @field_validator("val_batch_size")
    @classmethod
    def _val_divides(cls, v: int) -> int:
        if N_VAL_SEQUENCES % v:
            raise ValueError(f"val_batch_size ({v}) must divide {N_VAL_SEQUENCES} (2^18 val tokens / {SEQ_LEN})")
        return v

    @model_validator(mode="after")
    def _divisibility(self) -> "TrainingConfig":
        per_step = SEQ_LEN * self.train_batch_size
        if self.total_train_tokens % per_step:
            raise ValueError(
                f"total_train_tokens ({self.total_train_tokens}) must be divisible by "
                f"512 * train_batch_size ({per_step})"
            )
        if self.total_optimizer_steps % self.n_evals:
            raise ValueError(
                f"total optimizer steps ({self.total_optimizer_steps}) must be divisible by n_evals ({self.n_evals})"
            )
        return self

    @property
    def total_optimizer_steps(self) -> int:
        return self.total_train_tokens // (SEQ_LEN * self.train_batch_size)

    @property
    def unique_id(self) -> str:
        """blake2s (10-byte digest) of the typed canonical JSON; covers max_runtime_seconds and model_seed."""
        return config_hash(self)


def _typed(obj: Any) -> Any:
    if isinstance(obj, BaseModel):
        body = {name: _typed(getattr(obj, name)) for name in type(obj).model_fields}
        return {"__class__": type(obj).__name__, **body}
    return obj


def config_hash(cfg: BaseModel) -> str:
    payload = json.dumps(_typed(cfg), sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.blake2s(payload.encode(), digest_size=10).hexdigest()


class BudgetSummary(Frozen):
    used_seconds: float
    remaining_seconds: float
    total_budget_seconds: float


class SubmitResponse(Frozen):
    experiment_id: int
    budget_summary: BudgetSummary


class TimeoutReason(Frozen):
    reason: Literal["timeout"] = "timeout"
    partial_val_losses: list[float]


class UnexpectedReason(Frozen):
    reason: Literal["unexpected"] = "unexpected"
    failure: str


class QueuedStatus(Frozen):
    status_type: Literal["queued"] = "queued"
    queued_at: datetime


class RunningStatus(Frozen):
    status_type: Literal["running"] = "running"
    queued_at: datetime
    dispatched_at: datetime
    run_id: str
    val_losses: list[float] = []


class CompletedStatus(Frozen):
    status_type: Literal["completed"] = "completed"
    queued_at: datetime
    dispatched_at: datetime
    run_id: str
    used_runtime_seconds: float
    val_losses: list[float]
    completed_at: datetime


class FailedStatus(Frozen):
    status_type: Literal["failed"] = "failed"
    queued_at: datetime
    dispatched_at: datetime
    run_id: str
    used_runtime_seconds: float
    reason: Annotated[TimeoutReason | UnexpectedReason, Field(discriminator="reason")]
    failed_at: datetime


ExperimentStatus = Annotated[
    QueuedStatus | RunningStatus | CompletedStatus | FailedStatus, Field(discriminator="status_type")
]


class ExperimentResponse(Frozen):
    experiment_id: int
    training_config: TrainingConfig
    status: ExperimentStatus


class FinalSubmissionRequest(Frozen):
    training_config: TrainingConfig
    predicted_final_loss: float = Field(gt=0)


class FinalSubmissionResponse(FinalSubmissionRequest):
    submitted_at: datetime


class CompletedPayload(Frozen):
    """Internal worker route body: a finished run."""

    used_runtime_seconds: float = Field(ge=0)
    val_losses: list[float]


class FailedPayload(Frozen):
    used_runtime_seconds: float = Field(ge=0)
    reason: Annotated[TimeoutReason | UnexpectedReason, Field(discriminator="reason")]
