"""Linear, Embedding, RMSNorm, SiLU and the FFNs against torch.nn.functional on random inputs."""

import math
import warnings

import pytest
import torch
import torch.nn.functional as F

from cs336_basics.errors import ConfigError
from cs336_basics.model import Embedding, Linear, RMSNorm, SiLUFFN, SwiGLU, default_d_ff, silu
from tests import adapters


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def test_linear_matches_f_linear_any_leading_dims():
    w = torch.randn(7, 5)
    x = torch.randn(2, 3, 4, 5)
    torch.testing.assert_close(adapters.run_linear(5, 7, w, x), F.linear(x, w))


def test_linear_has_exactly_one_parameter_of_shape_out_in():
    layer = Linear(5, 7)
    params = dict(layer.named_parameters())
    assert list(params) == ["weight"]
    assert params["weight"].shape == (7, 5)


def test_linear_reads_weight_at_call_time():
    layer = Linear(4, 3)
    x = torch.randn(2, 4)
    with torch.no_grad():
        layer.weight.data = torch.zeros(3, 4)
    assert torch.count_nonzero(layer(x)) == 0


def test_linear_init_is_truncated_normal_with_spec_std():
    d_in, d_out = 300, 500
    w = Linear(d_in, d_out).weight.detach()
    std = math.sqrt(2 / (d_in + d_out))
    assert w.abs().max() <= 3 * std + 1e-7
    # A normal truncated at ±3σ keeps ~98.7% of its std.
    assert abs(w.std().item() / std - 0.9866) < 0.02
    assert abs(w.mean().item()) < 0.05 * std


def test_construction_emits_no_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Linear(3, 4)
        Embedding(10, 4)
        RMSNorm(4)
        SwiGLU(4, 8)


def test_embedding_matches_f_embedding():
    w = torch.randn(11, 6)
    ids = torch.randint(0, 11, (3, 4, 5))
    torch.testing.assert_close(adapters.run_embedding(11, 6, w, ids), F.embedding(ids, w))


def test_embedding_init_truncated_at_three():
    w = Embedding(1000, 64).weight.detach()
    assert w.abs().max() <= 3.0
    assert abs(w.std().item() - 0.9866) < 0.02


def test_embedding_backward_is_deterministic_compatible():
    layer = Embedding(10, 4)
    prev = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        layer(torch.tensor([[1, 1, 2]])).sum().backward()
    finally:
        torch.use_deterministic_algorithms(prev)
    assert layer.weight.grad[1].eq(2).all()


@pytest.mark.parametrize("eps", [1e-5, 1e-2])
def test_rmsnorm_matches_f_rms_norm(eps):
    g = torch.randn(16)
    x = torch.randn(2, 3, 16) * 3
    torch.testing.assert_close(adapters.run_rmsnorm(16, eps, g, x), F.rms_norm(x, (16,), g, eps))


def test_rmsnorm_preserves_bf16_and_computes_in_fp32():
    norm = RMSNorm(64)
    x = (torch.randn(4, 64) * 100).to(torch.bfloat16)
    y = norm(x)
    assert y.dtype == torch.bfloat16
    expected = F.rms_norm(x.float(), (64,), None, 1e-5).to(torch.bfloat16)
    torch.testing.assert_close(y, expected, atol=0, rtol=0)


def test_rmsnorm_gain_starts_at_one():
    assert torch.equal(RMSNorm(8).weight.detach(), torch.ones(8))


def test_silu_matches_f_silu():
    x = torch.randn(5, 7) * 10
    torch.testing.assert_close(adapters.run_silu(x), F.silu(x))


def test_swiglu_matches_functional_oracle():
    d, d_ff = 8, 24
    w1, w2, w3 = torch.randn(d_ff, d), torch.randn(d, d_ff), torch.randn(d_ff, d)
    x = torch.randn(2, 5, d)
    expected = F.linear(F.silu(F.linear(x, w1)) * F.linear(x, w3), w2)
    torch.testing.assert_close(adapters.run_swiglu(d, d_ff, w1, w2, w3, x), expected)


def test_silu_ffn_matches_oracle_and_defaults_to_4d():
    ffn = SiLUFFN(8)
    assert ffn.w1.weight.shape == (32, 8) and ffn.w2.weight.shape == (8, 32)
    x = torch.randn(3, 8)
    torch.testing.assert_close(ffn(x), F.linear(F.silu(F.linear(x, ffn.w1.weight)), ffn.w2.weight))


def test_default_d_ff_follows_staff_rule():
    assert default_d_ff(512) == 1344
    assert default_d_ff(768) == 2048


def test_silu_function_gradient_matches():
    x = torch.randn(10, requires_grad=True)
    silu(x).sum().backward()
    x2 = x.detach().clone().requires_grad_()
    F.silu(x2).sum().backward()
    torch.testing.assert_close(x.grad, x2.grad)


@pytest.mark.parametrize("bad", [0, -3, 2.5])
def test_bad_sizes_raise_config_error(bad):
    with pytest.raises(ConfigError, match="positive integer"):
        Linear(bad, 4)


@pytest.mark.parametrize("autocast", [False, True])
def test_stacked_linear_saving_parts_matches_plain_concatenation(autocast):
    from cs336_basics.layers import stacked_linear

    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 5, 8, generator=g, requires_grad=True)
    ws = [torch.randn(r, 8, generator=g, requires_grad=True) for r in (8, 4, 12)]
    results = []
    for save_parts in (False, True):
        saved_shapes = []

        def pack(t, saved_shapes=saved_shapes):
            saved_shapes.append(tuple(t.shape))
            return t

        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
                y = stacked_linear(x, ws, save_parts=save_parts)
        (y.float() * torch.linspace(-1, 1, y.shape[-1])).sum().backward()
        results.append((y.detach(), x.grad.clone(), [w.grad.clone() for w in ws], saved_shapes))
        x.grad = None
        for w in ws:
            w.grad = None
    (y0, gx0, gw0, saved0), (y1, gx1, gw1, saved1) = results
    tol = dict(rtol=2e-2, atol=2e-2) if autocast else dict(rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(y1, y0, **tol)
    torch.testing.assert_close(gx1, gx0, **tol)
    for a, b in zip(gw1, gw0, strict=True):
        assert a.dtype == torch.float32
        torch.testing.assert_close(a, b, **tol)
    concatenated = 24 * 8
    assert concatenated in {math.prod(s) for s in saved0}  # the plain path keeps the (cast) concatenation
    assert concatenated not in {math.prod(s) for s in saved1} and {(8, 8), (4, 8), (12, 8)} <= set(saved1)
