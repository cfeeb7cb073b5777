"""softmax, scaled dot-product attention, causal MHA and the attention-backend registry."""

import pytest
import torch
import torch.nn.functional as F

import cs336_basics.model as model_module
from cs336_basics.errors import ConfigError
from cs336_basics.model import (
    CausalMultiHeadSelfAttention,
    RotaryEmbedding,
    attention_backends,
    register_attention_backend,
    scaled_dot_product_attention,
)
from cs336_basics.nn_utils import softmax
from tests import adapters
from tests.oracle.reference import attention as attention_oracle


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def test_softmax_matches_torch_and_is_shift_invariant():
    x = torch.randn(3, 4, 9)
    for dim in (0, 1, -1):
        torch.testing.assert_close(adapters.run_softmax(x, dim), torch.softmax(x, dim=dim))
    torch.testing.assert_close(softmax(x + 100), softmax(x), atol=1e-6, rtol=1e-6)
    assert torch.isfinite(softmax(x * 1000)).all()


@pytest.mark.parametrize(
    ("lead", "mask_shape"), [((2, 3), None), ((2,), (2, 5, 7)), ((2, 3), (2, 3, 5, 7)), ((2, 3), (5, 7))]
)
def test_sdpa_matches_torch(lead, mask_shape):
    q, k, v = torch.randn(*lead, 5, 8), torch.randn(*lead, 7, 8), torch.randn(*lead, 7, 6)
    mask = None
    if mask_shape is not None:
        mask = torch.rand(mask_shape) > 0.3
        mask[..., 0] = True  # no empty rows
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    torch.testing.assert_close(adapters.run_scaled_dot_product_attention(q, k, v, mask), expected)


def test_sdpa_any_leading_dims():
    q = torch.randn(4, 6, 8)
    mask = torch.ones(6, 6, dtype=torch.bool).tril()
    torch.testing.assert_close(
        scaled_dot_product_attention(q, q, q, mask), F.scaled_dot_product_attention(q, q, q, is_causal=True)
    )


def _weights(d):
    return [torch.randn(d, d) * 0.3 for _ in range(4)]


def test_mha_without_rope_matches_oracle_and_is_causal():
    d, h = 16, 4
    wq, wk, wv, wo = _weights(d)
    x = torch.randn(2, 9, d)
    got = adapters.run_multihead_self_attention(d, h, wq, wk, wv, wo, x)
    torch.testing.assert_close(got, attention_oracle(x, wq, wk, wv, wo, h), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("positions", [None, "1d", "2d"])
def test_mha_with_rope_matches_oracle(positions):
    d, h, theta = 16, 4, 10000.0
    wq, wk, wv, wo = _weights(d)
    x = torch.randn(2, 9, d)
    pos = {None: None, "1d": torch.arange(9) + 3, "2d": torch.randint(0, 30, (2, 9))}[positions]
    got = adapters.run_multihead_self_attention_with_rope(d, h, 32, theta, wq, wk, wv, wo, x, pos)
    expected = attention_oracle(x, wq, wk, wv, wo, h, theta, pos)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_mha_causality():
    attn = CausalMultiHeadSelfAttention(16, 4, 32, 10000.0)
    x = torch.randn(1, 10, 16)
    y = x.clone()
    y[0, 6:] += torch.randn(4, 16)
    torch.testing.assert_close(attn(x)[:, :6], attn(y)[:, :6])
    assert not torch.allclose(attn(x)[:, 6:], attn(y)[:, 6:])


def test_torch_backend_matches_ours():
    ours = CausalMultiHeadSelfAttention(16, 4, 32, 10000.0)
    fast = CausalMultiHeadSelfAttention(16, 4, 32, 10000.0, attn_backend="torch")
    fast.load_state_dict(ours.state_dict())
    x = torch.randn(3, 11, 16)
    torch.testing.assert_close(fast(x), ours(x), rtol=1e-5, atol=1e-5)


def test_module_global_sdpa_is_looked_up_at_call_time(monkeypatch):
    calls = []

    def spy(Q, K, V, mask=None):
        calls.append(mask.shape)
        return scaled_dot_product_attention(Q, K, V, mask)

    monkeypatch.setattr(model_module, "scaled_dot_product_attention", spy)
    CausalMultiHeadSelfAttention(8, 2)(torch.randn(1, 5, 8))
    assert calls == [(5, 5)]


def test_register_backend_plug_point():
    seen = []

    def backend(q, k, v, is_causal):
        seen.append((tuple(q.shape), is_causal))
        return F.scaled_dot_product_attention(q, k, v, is_causal=is_causal)

    register_attention_backend("test_spy", backend, overwrite=True)
    assert "test_spy" in attention_backends()
    attn = CausalMultiHeadSelfAttention(8, 2, attn_backend="test_spy")
    attn(torch.randn(3, 5, 8))
    assert seen == [((3, 2, 5, 4), True)]
    with pytest.raises(ConfigError, match="already registered"):
        register_attention_backend("test_spy", backend)
    with pytest.raises(ConfigError, match="unknown attention backend"):
        CausalMultiHeadSelfAttention(8, 2, attn_backend="nope")


def test_fused_qkv_keeps_separate_state_dict_keys():
    attn = CausalMultiHeadSelfAttention(8, 2, 16, 10000.0)
    assert set(attn.state_dict()) == {f"{n}.weight" for n in ("q_proj", "k_proj", "v_proj", "output_proj")}


def test_staff_positional_encoder_keyword():
    rope = RotaryEmbedding(context_length=32, dim=4)
    a = CausalMultiHeadSelfAttention(8, 2, positional_encoder=rope)
    b = CausalMultiHeadSelfAttention(8, 2, 32, 10000.0)
    b.load_state_dict(a.state_dict())
    x = torch.randn(2, 7, 8)
    torch.testing.assert_close(a(x), b(x))


def test_heads_must_divide_d_model():
    with pytest.raises(ConfigError, match="divisible"):
        CausalMultiHeadSelfAttention(10, 3)
