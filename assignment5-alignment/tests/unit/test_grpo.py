"""§1.7-§1.9 against independent re-implementations."""

import pytest
import torch

from cs336_alignment.errors import AlignmentError
from tests import adapters

SEEDS = [0, 1, 2]


def _close(a, b, tol=1e-6):
    diff = (a.double() - b.double()).abs().max().item()
    assert torch.allclose(a.double(), b.double(), atol=tol, rtol=tol, equal_nan=True), f"max abs diff {diff:.3e}"


def _inputs(seed, b=4, t=10):
    g = torch.Generator().manual_seed(seed)
    lp = -torch.rand(b, t, generator=g) * 3
    old = lp + 0.3 * torch.randn(b, t, generator=g)
    adv = torch.randn(b, 1, generator=g)
    raw = torch.rand(b, 1, generator=g)
    mask = torch.rand(b, t, generator=g) > 0.3
    mask[:, 0] = True
    return lp, old, adv, raw, mask


def _reward_fn(response, gt):
    value = float(response)
    return {"reward": value, "format_reward": 1.0, "answer_reward": value}


@pytest.mark.parametrize("normalize_by_std", [True, False])
def test_group_normalized_rewards_three_values_bessel_std(normalize_by_std):
    responses = ["1", "0", "0", "1", "1", "1", "0", "0", "0.5", "0.25", "0", "1"]
    adv, raw, meta = adapters.run_compute_group_normalized_rewards(
        _reward_fn, responses, ["x"] * 12, 4, 1e-6, normalize_by_std
    )
    values = [float(r) for r in responses]
    expected = []
    for g in range(3):
        group = values[4 * g : 4 * g + 4]
        mean = sum(group) / 4
        std = (sum((v - mean) ** 2 for v in group) / 3) ** 0.5  # unbiased
        expected += [(v - mean) / (std + 1e-6) if normalize_by_std else v - mean for v in group]
    assert raw.dtype == torch.float32 and adv.dtype == torch.float32
    _close(raw, torch.tensor(values))
    _close(adv, torch.tensor(expected), 1e-5)
    assert isinstance(meta, dict) and meta["reward_mean"] == pytest.approx(sum(values) / 12)


def test_group_normalized_rewards_rejects_bad_group():
    with pytest.raises(AlignmentError, match="multiple of group_size"):
        adapters.run_compute_group_normalized_rewards(_reward_fn, ["1"] * 5, ["x"] * 5, 2, 1e-6, True)


@pytest.mark.parametrize("seed", SEEDS)
def test_naive_and_wrapper_losses(seed):
    lp, old, adv, raw, _ = _inputs(seed)
    _close(adapters.run_compute_naive_policy_gradient_loss(adv, lp), -adv * lp)
    loss, _ = adapters.run_compute_policy_gradient_loss(lp, "no_baseline", raw, adv, old, 0.2)
    _close(loss, -raw * lp)
    loss, _ = adapters.run_compute_policy_gradient_loss(lp, "reinforce_with_baseline", raw, adv, old, 0.2)
    _close(loss, -adv * lp)
    from cs336_alignment.grpo import compute_policy_gradient_loss

    loss, _ = compute_policy_gradient_loss(lp, "grpo_no_clip", advantages=adv, old_log_probs=old)
    _close(loss, -torch.exp(lp - old) * adv)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("eps", [0.1, 0.2])
def test_grpo_clip_loss_elementwise_reference(seed, eps):
    lp, old, adv, _, _ = _inputs(seed)
    loss, meta = adapters.run_compute_grpo_clip_loss(adv, lp, old, eps)
    expected = torch.empty_like(lp)
    for i in range(lp.shape[0]):
        for j in range(lp.shape[1]):
            r = float(torch.exp(lp[i, j].double() - old[i, j].double()))
            a = float(adv[i, 0])
            expected[i, j] = -min(r * a, max(min(r, 1 + eps), 1 - eps) * a)
    _close(loss, expected, 1e-5)
    assert meta["clipped"].dtype == torch.bool and meta["clipped"].any()


def test_wrapper_rejects_missing_args_and_unknown_type():
    lp, old, adv, raw, _ = _inputs(0)
    with pytest.raises(AlignmentError, match="needs old_log_probs"):
        adapters.run_compute_policy_gradient_loss(lp, "grpo_clip", raw, adv, None, 0.2)
    with pytest.raises(AlignmentError, match="unknown loss_type"):
        adapters.run_compute_policy_gradient_loss(lp, "ppo", raw, adv, old, 0.2)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("loss_type", ["no_baseline", "reinforce_with_baseline", "grpo_clip"])
def test_grpo_microbatch_step_masked_mean(seed, loss_type):
    lp, old, adv, raw, mask = _inputs(seed)
    lp = lp.clone().requires_grad_(True)
    k = 3
    loss, _ = adapters.run_grpo_microbatch_train_step(lp, mask, k, loss_type, raw, adv, old, 0.2)
    x = lp.detach().double()
    if loss_type == "no_baseline":
        per_tok = -raw.double() * x
    elif loss_type == "reinforce_with_baseline":
        per_tok = -adv.double() * x
    else:
        r = torch.exp(x - old.double())
        per_tok = -torch.minimum(r * adv.double(), r.clamp(0.8, 1.2) * adv.double())
    m = mask.double()
    expected = ((per_tok * m).sum(1) / m.sum(1)).mean() / k
    _close(loss, expected, 1e-6)
    grad_ref = lp.grad
    g1 = lp.grad.clone()
    adapters.run_grpo_microbatch_train_step(lp, mask, k, loss_type, raw, adv, old, 0.2)
    assert lp.grad is grad_ref
    _close(grad_ref, 2 * g1)
    assert (g1[~mask] == 0).all()


@pytest.mark.parametrize("seed", SEEDS)
def test_grpo_microbatch_step_masked_normalize(seed):
    from cs336_alignment.grpo import grpo_microbatch_train_step

    lp, old, adv, raw, mask = _inputs(seed)
    lp = lp.clone().requires_grad_(True)
    loss, _ = grpo_microbatch_train_step(
        lp,
        mask,
        2,
        "reinforce_with_baseline",
        advantages=adv,
        length_normalization="masked_normalize",
        normalize_constant=16.0,
    )
    expected = ((-adv.double() * lp.detach().double() * mask).sum(1) / 16.0).mean() / 2
    _close(loss, expected)
    with pytest.raises(AlignmentError, match="positive normalize_constant"):
        grpo_microbatch_train_step(lp, mask, 2, "no_baseline", raw_rewards=raw, length_normalization="masked_normalize")
