"""HF engine on a tiny random Qwen2, cross-checked against the native-style cache-free greedy decode."""

import pytest
import torch

from cs336_alignment.errors import AlignmentError
from cs336_alignment.rollout import build_engine
from cs336_alignment.rollout.base import SamplingParams
from tests.tiny import make_qwen2, make_tokenizer


@pytest.fixture(scope="module")
def setup():
    tok = make_tokenizer()
    return make_qwen2(len(tok), seed=3), tok


def _greedy_reference(model, ids, steps, eos):
    out = []
    with torch.no_grad():
        for _ in range(steps):
            nxt = int(model(torch.tensor([ids + out])).logits[0, -1].argmax())
            out.append(nxt)
            if nxt == eos:
                break
    return out


def test_hf_greedy_left_padded_matches_reference(setup):
    model, tok = setup
    engine = build_engine("hf", model, tok)
    prompts = ["User: Tom has 3 apples", "Hi"]
    outs = engine.generate(prompts, SamplingParams(temperature=0.0, max_tokens=8))
    for prompt, comps in zip(prompts, outs):
        ref = _greedy_reference(model, tok.encode(prompt, add_special_tokens=False), 8, tok.eos_token_id)
        assert comps[0].token_ids == ref
        assert comps[0].finish_reason == ("stop" if ref[-1] == tok.eos_token_id else "length")


def test_hf_n_samples_seed_and_stop(setup):
    model, tok = setup
    engine = build_engine("hf", model, tok)
    p = SamplingParams(temperature=1.0, max_tokens=8, n=3, seed=7)
    a, b = engine.generate(["Hi"], p), engine.generate(["Hi"], p)
    assert len(a[0]) == 3 and [c.token_ids for c in a[0]] == [c.token_ids for c in b[0]]
    greedy = engine.generate(["User:"], SamplingParams(temperature=0.0, max_tokens=12))[0][0]
    stop = greedy.text[1:4]
    out = engine.generate(["User:"], SamplingParams(temperature=0.0, max_tokens=12, stop=(stop,)))[0][0]
    assert out.finish_reason == "stop" and out.text.endswith(stop)


def test_build_engine_errors(setup):
    model, tok = setup
    with pytest.raises(AlignmentError, match="unknown engine"):
        build_engine("tgi", model, tok)
    with pytest.raises(AlignmentError, match="cs336_basics TransformerLM"):
        build_engine("native", model, tok)
    try:
        import vllm  # noqa: F401
    except ImportError:
        with pytest.raises(AlignmentError, match="uv pip install"):
            build_engine("vllm", model, tok, model_path="/nonexistent")
