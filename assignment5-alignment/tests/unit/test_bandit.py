"""Bandit check of every policy-gradient loss: a tabular softmax policy must raise its expected reward.

One "prompt", K actions; action a earns reward R[a]. Each step samples a group of actions, scores them through
compute_group_normalized_rewards with a string reward function (as the GRPO loop does) and updates the logits with
grpo_microbatch_train_step. The clip losses take two optimizer steps per rollout batch (off-policy), so their
importance ratios actually move away from 1.
"""

import pytest
import torch

from cs336_alignment.grpo import compute_group_normalized_rewards, grpo_microbatch_train_step

REWARDS = torch.tensor([0.0, 0.2, 1.0, 0.0, 0.5])


def reward_fn(response: str, ground_truth: str) -> dict[str, float]:
    r = float(REWARDS[int(response)])
    return {"reward": r, "format_reward": 1.0, "answer_reward": r}


def expected_reward(logits: torch.Tensor) -> float:
    return float(torch.softmax(logits, -1) @ REWARDS)


@pytest.mark.parametrize("loss_type", ["no_baseline", "reinforce_with_baseline", "grpo_clip", "grpo_no_clip"])
@pytest.mark.parametrize("use_std", [True, False])
def test_every_loss_type_raises_bandit_reward(loss_type, use_std):
    gen = torch.Generator().manual_seed(0)
    logits = torch.zeros(len(REWARDS), requires_grad=True)
    opt = torch.optim.SGD([logits], lr=0.5)
    group, groups = 8, 4
    start = expected_reward(logits.detach())
    off_policy = loss_type in ("grpo_clip", "grpo_no_clip")
    for _ in range(40):
        with torch.no_grad():
            probs = torch.softmax(logits, -1)
            actions = torch.multinomial(probs.expand(group * groups, -1), 1, generator=gen).squeeze(1)
            old = torch.log(probs[actions]).unsqueeze(1)
        adv, raw, _ = compute_group_normalized_rewards(
            reward_fn, [str(int(a)) for a in actions], ["-"] * len(actions), group, 1e-6, use_std
        )
        for _ in range(2 if off_policy else 1):
            log_probs = torch.log_softmax(logits, -1)[actions].unsqueeze(1)
            grpo_microbatch_train_step(
                log_probs,
                torch.ones_like(log_probs, dtype=torch.bool),
                1,
                loss_type,
                raw_rewards=raw.unsqueeze(1),
                advantages=adv.unsqueeze(1),
                old_log_probs=old,
                cliprange=0.2,
            )
            opt.step()
            opt.zero_grad()
    end = expected_reward(logits.detach())
    assert end > start + 0.4, f"{loss_type}: expected reward {start:.3f} -> {end:.3f}"
    assert int(logits.argmax()) == 2
