"""The Llama export of an assignment-1 model computes the same logits (an independent implementation: HF Llama)."""

import pytest
import torch

from cs336_alignment.convert import basics_to_llama
from cs336_alignment.rollout import build_engine
from cs336_alignment.rollout.base import SamplingParams
from tests.tiny import make_tokenizer

model_mod = pytest.importorskip("cs336_basics.model")


def test_llama_export_matches_logits_and_greedy_rollouts():
    tok = make_tokenizer()
    torch.manual_seed(0)
    lm = model_mod.TransformerLM(
        vocab_size=len(tok), context_length=64, d_model=32, num_layers=2, num_heads=4, d_ff=64
    ).eval()
    with torch.no_grad():  # non-trivial norm gains, so a layout mistake there would show
        for layer in lm.layers:
            layer.ln1.weight.uniform_(0.5, 1.5)
    llama = basics_to_llama(lm)
    ids = torch.randint(0, len(tok), (2, 30))
    with torch.no_grad():
        diff = (lm(ids) - llama(ids).logits).abs().max().item()
    assert diff < 1e-4, f"max abs logit diff {diff:.3e}"
    p = SamplingParams(temperature=0.0, max_tokens=10)
    prompts = ["User: Tom has 3 apples", "Hi"]
    native = build_engine("native", lm, tok).generate(prompts, p)
    hf = build_engine("hf", llama, tok).generate(prompts, p)
    assert [c[0].token_ids for c in native] == [c[0].token_ids for c in hf]


def test_native_greedy_equals_hf_generate_on_ragged_batches():
    """Left-padded prompts of different lengths, min_tokens and a stop string: native == HF generate, greedy."""
    tok = make_tokenizer()
    torch.manual_seed(3)
    lm = model_mod.TransformerLM(
        vocab_size=len(tok), context_length=96, d_model=32, num_layers=2, num_heads=4, d_ff=64
    ).eval()
    llama = basics_to_llama(lm)
    prompts = ["Hi", "User: Tom has 3 apples and buys 4 more.", "Sam had 12 coins", "A", "The answer is"]
    for p in (
        SamplingParams(temperature=0.0, max_tokens=24),
        SamplingParams(temperature=0.0, max_tokens=24, min_tokens=6),
    ):
        native = build_engine("native", lm, tok, sync_every=5).generate(prompts, p)
        hf = build_engine("hf", llama, tok).generate(prompts, p)
        assert [c[0].token_ids for c in native] == [c[0].token_ids for c in hf]
