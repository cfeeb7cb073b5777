"""CS336 assignment 5: SFT, expert iteration and GRPO for math reasoning (supplement: instruction tuning, DPO).

The handout's building blocks are re-exported here; the loops, engines and CLI live in their own modules.
"""

from cs336_alignment.grpo import (
    compute_group_normalized_rewards,
    compute_grpo_clip_loss,
    compute_grpo_no_clip_loss,
    compute_naive_policy_gradient_loss,
    compute_policy_gradient_loss,
    grpo_microbatch_train_step,
)
from cs336_alignment.rewards import question_only_reward_fn, r1_zero_reward_fn
from cs336_alignment.sft_utils import (
    compute_entropy,
    get_response_log_probs,
    log_generations,
    masked_mean,
    masked_normalize,
    sft_microbatch_train_step,
    tokenize_prompt_and_output,
)

__all__ = [
    "compute_entropy",
    "compute_group_normalized_rewards",
    "compute_grpo_clip_loss",
    "compute_grpo_no_clip_loss",
    "compute_naive_policy_gradient_loss",
    "compute_policy_gradient_loss",
    "get_response_log_probs",
    "grpo_microbatch_train_step",
    "log_generations",
    "masked_mean",
    "masked_normalize",
    "question_only_reward_fn",
    "r1_zero_reward_fn",
    "sft_microbatch_train_step",
    "tokenize_prompt_and_output",
]
