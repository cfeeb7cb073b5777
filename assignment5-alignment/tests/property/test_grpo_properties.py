"""Invariants of the group-normalised rewards and masked reductions over many random inputs."""

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tests import adapters

rewards = st.lists(st.sampled_from([0.0, 0.25, 0.5, 1.0]), min_size=2, max_size=8)


def _fn(response, gt):
    return {"reward": float(response), "format_reward": 1.0, "answer_reward": float(response)}


@settings(max_examples=60, deadline=None)
@given(groups=st.lists(rewards, min_size=1, max_size=4), use_std=st.booleans(), data=st.data())
def test_advantages_zero_mean_per_group_and_order_preserving(groups, use_std, data):
    size = len(groups[0])
    groups = [(g * size)[:size] for g in groups]
    flat = [v for g in groups for v in g]
    adv, raw, _ = adapters.run_compute_group_normalized_rewards(
        _fn, [str(v) for v in flat], ["g"] * len(flat), size, 1e-6, use_std
    )
    grouped = adv.reshape(-1, size)
    assert grouped.mean(1).abs().max().item() < 1e-4
    for g, a in zip(groups, grouped):
        if len(set(g)) == 1:
            assert (a == 0).all()  # zero-variance groups give no signal
        for i in range(size):
            for j in range(size):
                if g[i] > g[j]:
                    assert a[i] > a[j]
    if use_std:
        stds = grouped.std(1)
        nonconst = torch.tensor([len(set(g)) > 1 for g in groups])
        assert torch.allclose(stds[nonconst], torch.ones_like(stds[nonconst]), atol=1e-3)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), rows=st.integers(1, 5), cols=st.integers(1, 7))
def test_masked_mean_is_a_convex_combination(seed, rows, cols):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(rows, cols, generator=g)
    mask = torch.rand(rows, cols, generator=g) > 0.5
    out = adapters.run_masked_mean(x, mask, dim=1)
    for r in range(rows):
        if mask[r].any():
            vals = x[r][mask[r]]
            assert vals.min() - 1e-6 <= out[r] <= vals.max() + 1e-6
        else:
            assert torch.isnan(out[r])
    full = adapters.run_masked_normalize(x, torch.ones_like(mask), dim=None, normalize_constant=x.numel())
    assert torch.allclose(full, x.mean(), atol=1e-6)
