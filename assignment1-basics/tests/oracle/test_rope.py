"""RoPE against an independent complex-number formulation, plus its defining properties."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cs336_basics.errors import ConfigError
from cs336_basics.model import RotaryEmbedding, RotaryPositionalEmbedding
from tests import adapters
from tests.oracle.reference import rope_complex


@pytest.mark.parametrize("theta", [10000.0, 500.0])
def test_rope_matches_complex_formulation(theta):
    torch.manual_seed(0)
    x = torch.randn(2, 3, 12, 16)
    pos = torch.randint(0, 40, (2, 3, 12))
    got = adapters.run_rope(16, theta, 40, x, pos)
    torch.testing.assert_close(got, rope_complex(x, pos, theta), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("pos_shape", [(12,), (1, 12), (4, 12)])
def test_positions_broadcast(pos_shape):
    torch.manual_seed(1)
    x = torch.randn(4, 12, 8)
    pos = torch.arange(12).expand(pos_shape).clone()
    got = adapters.run_rope(8, 10000.0, 16, x, pos)
    torch.testing.assert_close(got, rope_complex(x, torch.arange(12), 10000.0), rtol=1e-5, atol=1e-5)


def test_position_zero_is_identity_and_none_means_arange():
    rope = RotaryPositionalEmbedding(10000.0, 8, 16)
    x = torch.randn(1, 8)
    torch.testing.assert_close(rope(x, torch.tensor([0])), x)
    y = torch.randn(2, 5, 8)
    torch.testing.assert_close(rope(y), rope(y, torch.arange(5)))


def test_output_is_interleaved_not_half_split():
    # Only pair (x0, x1) is non-zero; interleaved rotation keeps the energy in dims 0 and 1.
    rope = RotaryPositionalEmbedding(10000.0, 8, 16)
    x = torch.zeros(1, 8)
    x[0, 0], x[0, 1] = 1.0, 2.0
    out = rope(x, torch.tensor([3]))
    assert torch.count_nonzero(out[0, 2:]) == 0
    angle = torch.tensor(3.0)
    torch.testing.assert_close(out[0, :2], torch.stack([angle.cos() - 2 * angle.sin(), angle.sin() + 2 * angle.cos()]))


@settings(max_examples=30, deadline=None)
@given(i=st.integers(0, 60), j=st.integers(0, 60), shift=st.integers(0, 60))
def test_dot_product_depends_only_on_relative_position(i, j, shift):
    g = torch.Generator().manual_seed(i * 1000 + j)
    q, k = torch.randn(1, 16, generator=g), torch.randn(1, 16, generator=g)
    rope = RotaryPositionalEmbedding(10000.0, 16, 128)

    def score(a, b):
        return (rope(q, torch.tensor([a])) * rope(k, torch.tensor([b]))).sum()

    torch.testing.assert_close(score(i, j), score(i + shift, j + shift), rtol=1e-5, atol=1e-5)


def test_rotation_preserves_norm():
    rope = RotaryPositionalEmbedding(10000.0, 32, 64)
    x = torch.randn(3, 64, 32)
    torch.testing.assert_close(rope(x).norm(dim=-1), x.norm(dim=-1))


def test_buffers_are_not_persistent():
    rope = RotaryPositionalEmbedding(10000.0, 8, 16)
    assert rope.state_dict() == {}
    assert {name for name, _ in rope.named_buffers()} == {"cos", "sin"}


def test_bf16_input_keeps_dtype():
    rope = RotaryPositionalEmbedding(10000.0, 8, 16)
    assert rope(torch.randn(4, 8, dtype=torch.bfloat16)).dtype == torch.bfloat16


def test_staff_alias_argument_order():
    staff = RotaryEmbedding(dim=8, context_length=16)
    ours = RotaryPositionalEmbedding(10000.0, 8, 16)
    x = torch.randn(2, 10, 8)
    torch.testing.assert_close(staff(x), ours(x))
    torch.testing.assert_close(staff(x, pos_ids=torch.arange(3, 13)), ours(x, torch.arange(3, 13)))


def test_bad_configs():
    with pytest.raises(ConfigError, match="even"):
        RotaryPositionalEmbedding(10000.0, 7, 16)
    rope = RotaryPositionalEmbedding(10000.0, 8, 4)
    with pytest.raises(ConfigError, match="exceeds the RoPE table"):
        rope(torch.randn(6, 8))
    with pytest.raises(ConfigError, match="d_k=8"):
        rope(torch.randn(3, 6))
