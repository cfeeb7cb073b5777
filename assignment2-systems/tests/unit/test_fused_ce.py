"""Fused LM head + cross-entropy against plain logits + torch.nn.functional.cross_entropy (values and gradients)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from cs336_systems.errors import ConfigError
from cs336_systems.fused_ce import fused_linear_cross_entropy


def _reference(hidden, weight, targets, reduction="mean"):
    logits = (hidden @ weight.t()).to(torch.promote_types(hidden.dtype, torch.float32))
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction=reduction)


def _both(shape, vocab, d, dtype, chunk, reduction="mean", scale=1.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(*shape, d, generator=g).to(dtype)
    w = (torch.randn(vocab, d, generator=g) / d**0.5).to(dtype)
    t = torch.randint(0, vocab, shape, generator=g)
    out = {}
    for name, fn in (
        ("ref", lambda a, b: _reference(a, b, t, reduction)),
        ("fused", lambda a, b: fused_linear_cross_entropy(a, b, t, chunk_size=chunk, reduction=reduction)),
    ):
        a, b = h.clone().requires_grad_(), w.clone().requires_grad_()
        loss = fn(a, b)
        (loss * scale).backward()
        out[name] = (loss.detach(), a.grad, b.grad)
    return out


@pytest.mark.parametrize("chunk", [1, 5, 16, 1000])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_fp32_matches_reference(chunk, reduction):
    out = _both((3, 7), vocab=53, d=24, dtype=torch.float32, chunk=chunk, reduction=reduction, scale=2.5)
    for ref, fused in zip(out["ref"], out["fused"], strict=True):
        assert fused.dtype == ref.dtype and fused.shape == ref.shape
        torch.testing.assert_close(fused, ref, rtol=1e-5, atol=1e-6)


def test_bf16_matches_reference_within_bf16_tolerance():
    out = _both((4, 16), vocab=97, d=32, dtype=torch.bfloat16, chunk=10)
    (lr, hr, wr), (lf, hf, wf) = out["ref"], out["fused"]
    assert lf.dtype == torch.float32 and hf.dtype == torch.bfloat16 and wf.dtype == torch.bfloat16
    torch.testing.assert_close(lf, lr, rtol=1e-4, atol=1e-4)
    for a, b in ((hf, hr), (wf, wr)):
        rel = (a.float() - b.float()).norm() / b.float().norm()
        assert rel < 1e-2, rel


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 40), vocab=st.integers(2, 30), chunk=st.integers(1, 50), seed=st.integers(0, 2**16))
def test_property_any_shape_and_chunk(n, vocab, chunk, seed):
    out = _both((n,), vocab=vocab, d=8, dtype=torch.float64, chunk=chunk, seed=seed)
    for ref, fused in zip(out["ref"], out["fused"], strict=True):
        torch.testing.assert_close(fused.to(ref.dtype), ref, rtol=1e-10, atol=1e-12)


def test_only_hidden_needs_grad_and_no_grad_mode():
    h = torch.randn(6, 8, requires_grad=True)
    w = torch.randn(11, 8)
    t = torch.randint(0, 11, (6,))
    fused_linear_cross_entropy(h, w, t, chunk_size=4).backward()
    ref_h = h.detach().clone().requires_grad_()
    _reference(ref_h, w, t).backward()
    torch.testing.assert_close(h.grad, ref_h.grad)
    with torch.no_grad():
        torch.testing.assert_close(fused_linear_cross_entropy(h, w, t), _reference(h, w, t))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"targets": torch.tensor([0, 11, 1])}, "must lie in"),
        ({"targets": torch.tensor([0, -1, 1])}, "must lie in"),
        ({"targets": torch.tensor([0, 1])}, "must have shape"),
        ({"targets": torch.tensor([0.0, 1.0, 2.0])}, "integer"),
        ({"weight": torch.randn(11, 5)}, "does not match"),
        ({"weight": torch.randn(11, 8, dtype=torch.float64)}, "share a dtype"),
        ({"chunk_size": 0}, "chunk_size"),
        ({"reduction": "none"}, "reduction"),
    ],
)
def test_bad_input_raises(kwargs, match):
    args = {"hidden": torch.randn(3, 8), "weight": torch.randn(11, 8), "targets": torch.tensor([0, 10, 1])}
    args.update(kwargs)
    hidden, weight, targets = args.pop("hidden"), args.pop("weight"), args.pop("targets")
    with pytest.raises(ConfigError, match=match):
        fused_linear_cross_entropy(hidden, weight, targets, **args)
