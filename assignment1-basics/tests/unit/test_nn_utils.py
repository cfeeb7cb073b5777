"""softmax / log_softmax / cross_entropy / perplexity / gradient clipping against torch."""

import pytest
import torch
import torch.nn.functional as F

from cs336_basics.nn_utils import clip_gradient, cross_entropy, gradient_clipping, log_softmax, perplexity
from tests import adapters


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def test_cross_entropy_matches_f_cross_entropy_2d():
    logits, targets = torch.randn(8, 13), torch.randint(0, 13, (8,))
    torch.testing.assert_close(adapters.run_cross_entropy(logits, targets), F.cross_entropy(logits, targets))


def test_cross_entropy_any_leading_dims():
    logits, targets = torch.randn(2, 3, 5, 11), torch.randint(0, 11, (2, 3, 5))
    torch.testing.assert_close(
        cross_entropy(logits, targets), F.cross_entropy(logits.reshape(-1, 11), targets.flatten())
    )


def test_cross_entropy_is_stable_for_huge_logits():
    logits, targets = torch.randn(6, 9) * 1000, torch.randint(0, 9, (6,))
    got = cross_entropy(logits, targets)
    assert torch.isfinite(got)
    torch.testing.assert_close(got, F.cross_entropy(logits, targets))
    torch.testing.assert_close(cross_entropy(logits + 1e4, targets), got, rtol=1e-4, atol=1e-2)


def test_cross_entropy_gradient_matches():
    a = torch.randn(4, 7, requires_grad=True)
    b = a.detach().clone().requires_grad_()
    t = torch.randint(0, 7, (4,))
    cross_entropy(a, t).backward()
    F.cross_entropy(b, t).backward()
    torch.testing.assert_close(a.grad, b.grad)


def test_cross_entropy_bf16_logits_are_upcast():
    logits, targets = torch.randn(5, 50).to(torch.bfloat16), torch.randint(0, 50, (5,))
    got = cross_entropy(logits, targets)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, F.cross_entropy(logits.float(), targets))


def test_cross_entropy_shape_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="disagree"):
        cross_entropy(torch.randn(4, 5), torch.zeros(3, dtype=torch.long))


def test_log_softmax_and_perplexity():
    x = torch.randn(3, 6) * 50
    torch.testing.assert_close(log_softmax(x), F.log_softmax(x, dim=-1))
    torch.testing.assert_close(log_softmax(x, dim=0), F.log_softmax(x, dim=0))
    t = torch.randint(0, 6, (3,))
    torch.testing.assert_close(perplexity(x / 50, t), F.cross_entropy(x / 50, t).exp())


def _params_with_grads(scale):
    params = [torch.nn.Parameter(torch.randn(s)) for s in [(3, 4), (5,), (2, 2, 2)]]
    for p in params:
        p.grad = torch.randn_like(p) * scale
    params.append(torch.nn.Parameter(torch.randn(3)))  # no grad: skipped
    return params


@pytest.mark.parametrize(("scale", "max_norm"), [(10.0, 1.0), (0.01, 1.0), (1.0, 0.5)])
def test_clip_matches_clip_grad_norm(scale, max_norm):
    ours = _params_with_grads(scale)
    ref = [torch.nn.Parameter(p.detach().clone()) for p in ours]
    for p, r in zip(ours, ref):
        r.grad = None if p.grad is None else p.grad.clone()
    norm = clip_gradient(iter(ours), max_norm)  # generators are accepted
    ref_norm = torch.nn.utils.clip_grad_norm_(ref, max_norm)
    torch.testing.assert_close(norm, ref_norm)
    for p, r in zip(ours, ref):
        if p.grad is not None:
            torch.testing.assert_close(p.grad, r.grad, atol=1e-6, rtol=1e-6)


def test_clip_leaves_small_gradients_untouched_and_adapter():
    params = _params_with_grads(1e-3)
    before = [None if p.grad is None else p.grad.clone() for p in params]
    adapters.run_gradient_clipping(params, 100.0)
    for p, b in zip(params, before):
        if b is not None:
            assert torch.equal(p.grad, b)
    assert gradient_clipping is clip_gradient


def test_clip_rejects_non_positive_max_norm():
    with pytest.raises(ValueError, match="max_norm"):
        clip_gradient(_params_with_grads(1.0), 0.0)
