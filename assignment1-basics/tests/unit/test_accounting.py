"""Analytic accounting against the model itself and against counts made by hand."""

import pytest
import torch

from cs336_basics.accounting import (
    PEAK_FLOPS,
    count_parameters,
    estimate_mfu,
    flops_per_token,
    lookup_peak_flops,
    training_memory,
)
from cs336_basics.errors import ConfigError
from cs336_basics.model import TransformerLM

TINYSTORIES = dict(vocab_size=10_000, context_length=256, d_model=512, num_layers=4, num_heads=16, d_ff=1344)
GPT2_SMALL = dict(vocab_size=50_257, context_length=1024, d_model=768, num_layers=12, num_heads=12, d_ff=2048)


def test_tinystories_counts():
    c = count_parameters(TINYSTORIES)
    assert (c.total, c.without_input_embedding, c.without_embeddings) == (22_696_448, 17_576_448, 12_456_448)


@pytest.mark.parametrize(
    "switches",
    [
        {},
        {"ffn_type": "silu", "d_ff": 2048},
        {"tie_embeddings": True},
        {"norm_type": "none"},
        {"vocab_pad_multiple": 64},
        {"vocab_pad_multiple": 64, "tie_embeddings": True},
    ],
)
def test_counts_match_the_built_model(switches):
    model = TransformerLM(**{**TINYSTORIES, **switches}, device="meta")
    c = count_parameters(model)
    assert c.total == sum(p.numel() for p in model.parameters())
    assert c.without_embeddings == model.get_num_params()


def _matmul_flops_by_hand(cfg, t):
    d, f, v, n = cfg["d_model"], cfg["d_ff"], cfg["vocab_size"], cfg["num_layers"]
    per_layer = 2 * t * d * 3 * d + 2 * t * t * d + 2 * t * t * d + 2 * t * d * d + 3 * 2 * t * d * f
    return n * per_layer + 2 * t * d * v  # per sequence of t tokens


@pytest.mark.parametrize("cfg", [TINYSTORIES, GPT2_SMALL])
def test_flops_per_token_matches_a_matmul_by_matmul_count(cfg):
    t = cfg["context_length"]
    assert flops_per_token(cfg, backward=False) == pytest.approx(_matmul_flops_by_hand(cfg, t) / t)
    assert flops_per_token(cfg) == pytest.approx(3 * _matmul_flops_by_hand(cfg, t) / t)
    assert flops_per_token(cfg, seq_len=t // 2) < flops_per_token(cfg)


def test_mfu_inverts_flops():
    peak = 1e15
    tokens_per_s = 0.4 * peak / flops_per_token(GPT2_SMALL)
    assert estimate_mfu(tokens_per_s, GPT2_SMALL, peak) == pytest.approx(0.4)
    assert estimate_mfu(tokens_per_s, GPT2_SMALL, "NVIDIA H100 80GB HBM3") == pytest.approx(0.4 * peak / 989e12)


def test_peak_lookup():
    assert lookup_peak_flops("NVIDIA H100 80GB HBM3") == PEAK_FLOPS["H100"]["bf16"]
    assert lookup_peak_flops("NVIDIA H100 PCIe", "fp32") == PEAK_FLOPS["H100 PCIe"]["fp32"]
    assert lookup_peak_flops("NVIDIA A100-SXM4-80GB") == 312e12
    with pytest.raises(ConfigError, match="no peak"):
        lookup_peak_flops("GeForce 256")


def test_training_memory_terms():
    est = training_memory(TINYSTORIES, batch_size=32)
    n = 22_696_448
    assert (est.parameters, est.gradients, est.optimizer_state) == (4 * n, 4 * n, 8 * n)
    assert est.total == est.parameters + est.gradients + est.optimizer_state + est.activations
    # Activations scale linearly with batch size; flash attention saves the T×T scores.
    assert training_memory(TINYSTORIES, 64).activations == 2 * est.activations
    assert training_memory(TINYSTORIES, 32, materialized_attention=False).activations < est.activations
    assert training_memory(TINYSTORIES, 32, activation_bytes=2).activations == est.activations // 2


def test_training_memory_is_an_upper_bound_on_saved_tensors():
    cfg = dict(vocab_size=64, context_length=16, d_model=32, num_layers=2, num_heads=4, d_ff=64)
    model = TransformerLM(**cfg)
    saved = []

    def pack(t):
        saved.append(t.numel() * t.element_size())
        return t

    ids = torch.randint(0, 64, (2, 16))
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model.loss(ids, ids)
    weights = sum(p.numel() * 4 for p in model.parameters())
    # Saved tensors include weights (counted as parameters in the estimate); the rest are activations.
    assert 0 < sum(saved) - weights <= 2 * training_memory(cfg, 2).activations


def test_missing_fields_are_reported():
    with pytest.raises(ConfigError, match="lacks"):
        count_parameters({"d_model": 3})
