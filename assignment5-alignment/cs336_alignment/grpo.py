"""GRPO building blocks (handout §7): group-normalised rewards, policy-gradient losses and the GRPO micro-step.

Departures from the handout, stated up front:
- `compute_policy_gradient_loss` also accepts `"grpo_no_clip"` (the clip-ablation loss: -ratio * A, unclipped),
  so every loss of the handout goes through one wrapper.
- `grpo_microbatch_train_step` takes `length_normalization="masked_mean" | "masked_normalize"` (the
  think_about_length_normalization problem); with `masked_normalize` the per-sequence sum is divided by
  `normalize_constant` (e.g. max_tokens, as in Dr. GRPO) instead of the sequence's own length.
"""

from collections.abc import Callable
from typing import Literal

import torch
from jaxtyping import Bool, Float
from torch import Tensor

from cs336_alignment.errors import AlignmentError
from cs336_alignment.sft_utils import masked_mean, masked_normalize

LossType = Literal["no_baseline", "reinforce_with_baseline", "grpo_clip", "grpo_no_clip"]
LOSS_TYPES: tuple[str, ...] = ("no_baseline", "reinforce_with_baseline", "grpo_clip", "grpo_no_clip")
LengthNormalization = Literal["masked_mean", "masked_normalize"]
LENGTH_NORMALIZATIONS: tuple[str, ...] = ("masked_mean", "masked_normalize")


def compute_group_normalized_rewards(
    reward_fn: Callable[[str, str], dict[str, float]],
    rollout_responses: list[str],
    repeated_ground_truths: list[str],
    group_size: int,
    advantage_eps: float,
    normalize_by_std: bool,
) -> tuple[Float[Tensor, " batch"], Float[Tensor, " batch"], dict[str, float]]:
    """Score every rollout and centre (optionally scale) the rewards within each group of `group_size` (§1.7).

    Returns three values: advantages, raw rewards (both fp32 `(N,)`) and a metadata dict. The std is the unbiased
    (Bessel-corrected) one, as `torch.std` computes by default; with group_size 1 it is NaN, so that is refused.
    """
    n = len(rollout_responses)
    if n != len(repeated_ground_truths):
        raise AlignmentError(f"got {n} responses but {len(repeated_ground_truths)} ground truths")
    if group_size < 1 or n % group_size != 0:
        raise AlignmentError(f"number of responses ({n}) must be a positive multiple of group_size ({group_size})")
    if normalize_by_std and group_size < 2:
        raise AlignmentError("normalize_by_std needs group_size >= 2 (the unbiased std of one sample is NaN)")
    infos = [reward_fn(r, g) for r, g in zip(rollout_responses, repeated_ground_truths)]
    raw = torch.tensor([float(info["reward"]) for info in infos], dtype=torch.float32)
    grouped = raw.reshape(-1, group_size)
    centred = grouped - grouped.mean(dim=1, keepdim=True)
    group_std = grouped.std(dim=1, keepdim=True) if group_size > 1 else torch.zeros_like(grouped[:, :1])
    advantages = centred / (group_std + advantage_eps) if normalize_by_std else centred
    metadata = {
        "reward_mean": raw.mean().item(),
        "reward_std": raw.std().item() if n > 1 else 0.0,
        "reward_min": raw.min().item(),
        "reward_max": raw.max().item(),
        "format_reward_mean": sum(float(i.get("format_reward", 0.0)) for i in infos) / n,
        "answer_reward_mean": sum(float(i.get("answer_reward", 0.0)) for i in infos) / n,
        "frac_zero_variance_groups": (group_std.squeeze(1) == 0).float().mean().item(),
    }
    return advantages.reshape(-1), raw, metadata


def compute_naive_policy_gradient_loss(
    raw_rewards_or_advantages: Float[Tensor, "batch 1"],
    policy_log_probs: Float[Tensor, "batch seq"],
) -> Float[Tensor, "batch seq"]:
    """Per-token REINFORCE loss -A * log pi (A broadcast over the sequence)."""
    return -raw_rewards_or_advantages.to(policy_log_probs.dtype) * policy_log_probs


def _ratio(policy_log_probs: Tensor, old_log_probs: Tensor) -> Tensor:
    # exp(new - old) in fp32: bf16 here would make on-policy ratios visibly differ from 1.
    return torch.exp(policy_log_probs.float() - old_log_probs.float())


def compute_grpo_clip_loss(
    advantages: Float[Tensor, "batch 1"],
    policy_log_probs: Float[Tensor, "batch seq"],
    old_log_probs: Float[Tensor, "batch seq"],
    cliprange: float,
) -> tuple[Float[Tensor, "batch seq"], dict[str, Tensor]]:
    """Per-token GRPO-Clip loss -min(r A, clip(r, 1-eps, 1+eps) A); metadata marks where the clipped side won."""
    ratio = _ratio(policy_log_probs, old_log_probs)
    adv = advantages.float()
    unclipped = ratio * adv
    clipped = torch.clamp(ratio, 1.0 - cliprange, 1.0 + cliprange) * adv
    loss = -torch.minimum(unclipped, clipped)
    return loss, {"clipped": (clipped < unclipped), "ratio": ratio.detach()}


def compute_grpo_no_clip_loss(
    advantages: Float[Tensor, "batch 1"],
    policy_log_probs: Float[Tensor, "batch seq"],
    old_log_probs: Float[Tensor, "batch seq"],
) -> tuple[Float[Tensor, "batch seq"], dict[str, Tensor]]:
    """Per-token unclipped importance-weighted loss -r A (the GRPO-No-Clip ablation)."""
    ratio = _ratio(policy_log_probs, old_log_probs)
    return -ratio * advantages.float(), {"ratio": ratio.detach()}


def _require(value: Tensor | float | None, name: str, loss_type: str) -> Tensor | float:
    if value is None:
        raise AlignmentError(f"loss_type {loss_type!r} needs {name}, which was None")
    return value


def compute_policy_gradient_loss(
    policy_log_probs: Float[Tensor, "batch seq"],
    loss_type: str,
    raw_rewards: Float[Tensor, "batch 1"] | None = None,
    advantages: Float[Tensor, "batch 1"] | None = None,
    old_log_probs: Float[Tensor, "batch seq"] | None = None,
    cliprange: float | None = None,
) -> tuple[Float[Tensor, "batch seq"], dict[str, Tensor]]:
    """Dispatch to the loss named by `loss_type`; arguments the loss does not use are ignored."""
    if loss_type == "no_baseline":
        rewards = _require(raw_rewards, "raw_rewards", loss_type)
        return compute_naive_policy_gradient_loss(rewards, policy_log_probs), {}
    if loss_type == "reinforce_with_baseline":
        adv = _require(advantages, "advantages", loss_type)
        return compute_naive_policy_gradient_loss(adv, policy_log_probs), {}
    if loss_type == "grpo_clip":
        adv = _require(advantages, "advantages", loss_type)
        old = _require(old_log_probs, "old_log_probs", loss_type)
        eps = _require(cliprange, "cliprange", loss_type)
        return compute_grpo_clip_loss(adv, policy_log_probs, old, float(eps))
    if loss_type == "grpo_no_clip":
        adv = _require(advantages, "advantages", loss_type)
        old = _require(old_log_probs, "old_log_probs", loss_type)
        return compute_grpo_no_clip_loss(adv, policy_log_probs, old)
    raise AlignmentError(f"unknown loss_type {loss_type!r}; expected one of {', '.join(LOSS_TYPES)}")


def grpo_microbatch_train_step(
    policy_log_probs: Float[Tensor, "batch seq"],
    response_mask: Bool[Tensor, "batch seq"],
    gradient_accumulation_steps: int,
    loss_type: str,
    raw_rewards: Float[Tensor, "batch 1"] | None = None,
    advantages: Float[Tensor, "batch 1"] | None = None,
    old_log_probs: Float[Tensor, "batch seq"] | None = None,
    cliprange: float | None = None,
    length_normalization: str = "masked_mean",
    normalize_constant: float | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """Backward one micro-batch of the policy-gradient loss (§1.9) and return (scaled loss, metadata).

    Per-token losses are reduced per sequence (masked_mean over its response tokens, or masked_normalize by
    `normalize_constant`), averaged over the batch and divided by `gradient_accumulation_steps`. Gradients
    accumulate in place.
    """
    if gradient_accumulation_steps < 1:
        raise AlignmentError(f"gradient_accumulation_steps must be >= 1, got {gradient_accumulation_steps}")
    per_token, meta = compute_policy_gradient_loss(
        policy_log_probs, loss_type, raw_rewards, advantages, old_log_probs, cliprange
    )
    if length_normalization == "masked_mean":
        per_seq = masked_mean(per_token, response_mask, dim=1)
    elif length_normalization == "masked_normalize":
        if normalize_constant is None or normalize_constant <= 0:
            raise AlignmentError(f"masked_normalize needs a positive normalize_constant, got {normalize_constant}")
        per_seq = masked_normalize(per_token, response_mask, normalize_constant=normalize_constant, dim=1)
    else:
        raise AlignmentError(
            f"unknown length_normalization {length_normalization!r}; expected one of {LENGTH_NORMALIZATIONS}"
        )
    loss = per_seq.mean() / gradient_accumulation_steps
    loss.backward()
    metadata: dict[str, Tensor] = {"loss_per_example": per_seq.detach()}
    if "clipped" in meta:
        metadata["clip_fraction"] = masked_mean(meta["clipped"].float(), response_mask).detach()
    if "ratio" in meta:
        metadata["ratio_mean"] = masked_mean(meta["ratio"], response_mask).detach()
    return loss.detach(), metadata
