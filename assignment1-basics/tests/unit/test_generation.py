"""KV-cache decoding equals full forward passes; sampling rules; batching with either padding side; stopping."""

import pytest
import torch

from cs336_basics.errors import ConfigError
from cs336_basics.generation import Decoder, KVCache, generate, sample_next_token
from cs336_basics.model import TransformerLM

V, CTX = 61, 12


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return TransformerLM(V, CTX, 32, 2, 4, 64).eval()


def _full_last_logits(model, seq):
    with torch.no_grad():
        return model(torch.tensor([seq[-CTX:]]))[0, -1]


@pytest.mark.parametrize("backend", ["ours", "torch"])
def test_incremental_logits_equal_full_forward_for_a_ragged_batch(model, backend):
    model = TransformerLM(**{**model.config, "attn_backend": backend}).eval()
    model.load_state_dict(TransformerLM(**{**model.config, "attn_backend": "ours"}).state_dict())
    rows = [[1, 2, 3, 4, 5], [7], [9, 8, 7]]
    decoder = Decoder(model)
    with torch.no_grad():
        logits = decoder.prefill(rows)
        for step in range(5):
            for r, row in enumerate(rows):
                torch.testing.assert_close(logits[r], _full_last_logits(model, row), rtol=1e-4, atol=1e-4)
            new = torch.tensor([(11 * step + r) % V for r in range(len(rows))])
            rows = [row + [int(t)] for row, t in zip(rows, new)]
            logits = decoder.step(new)


def test_greedy_equals_argmax_of_full_forward_including_context_cropping(model):
    prompt = [3, 1, 4, 1, 5, 9, 2]
    got = generate(model, prompt, 15, temperature=0.0)  # 7 + 15 > CTX: the window slides
    seq = list(prompt)
    for _ in range(15):
        seq.append(int(_full_last_logits(model, seq).argmax()))
    assert got == seq[len(prompt) :]


def test_left_and_right_padding_give_the_same_result(model):
    prompts = [[5, 6, 7, 8], [9, 10]]
    expected = generate(model, prompts, 6, temperature=0.0)
    right = torch.tensor([[5, 6, 7, 8], [9, 10, 0, 0]])
    left = torch.tensor([[5, 6, 7, 8], [0, 0, 9, 10]])
    mask_right = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])
    mask_left = torch.tensor([[1, 1, 1, 1], [0, 0, 1, 1]])
    assert model.generate(right, 6, temperature=0.0, attention_mask=mask_right).tolist() == expected
    assert generate(model, left, 6, temperature=0.0, attention_mask=mask_left).tolist() == expected
    singles = [generate(model, p, 6, temperature=0.0) for p in prompts]
    assert singles == expected


def test_eos_stops_a_row_and_is_not_returned(model):
    prompt = [2, 3, 4]
    free = generate(model, prompt, 8, temperature=0.0)
    eos = free[3]
    first = free.index(eos)
    assert generate(model, prompt, 8, temperature=0.0, eos_token_id=eos) == free[:first]
    assert generate(model, prompt, 8, temperature=0.0, eos_id=eos) == free[:first]
    out = model.generate(torch.tensor([prompt, [5, 6, 7]]), 8, temperature=0.0, eos_token_id=eos)
    assert out.shape[0] == 2 and out[0, :first].tolist() == free[:first]
    assert (out[0, first:] == eos).all()


def test_staff_style_call_returns_new_tokens_2d(model):
    out = model.generate(torch.tensor([1, 2, 3]), 4, temperature=1.0, top_k=5, eos_token_id=None)
    assert out.shape == (1, 4) and out.dtype == torch.long
    assert model.training is False


def test_generate_restores_training_mode(model):
    model.train()
    generate(model, [1], 2)
    assert model.training
    model.eval()


def test_seeded_sampling_is_reproducible(model):
    a = generate(model, [1, 2], 10, generator=torch.Generator().manual_seed(7))
    b = generate(model, [1, 2], 10, generator=torch.Generator().manual_seed(7))
    assert a == b


def test_top_k_keeps_exactly_k_tokens():
    logits = torch.tensor([[0.0, 5.0, 4.0, 3.0, -1.0, 2.0]])
    g = torch.Generator().manual_seed(0)
    draws = {int(sample_next_token(logits, 5.0, top_k=2, generator=g)) for _ in range(300)}
    assert draws == {1, 2}


def test_top_p_keeps_smallest_prefix_and_at_least_one():
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    logits = probs.log()
    g = torch.Generator().manual_seed(0)
    draws = {int(sample_next_token(logits, 1.0, top_p=0.8, generator=g)) for _ in range(300)}
    assert draws == {0, 1}
    assert {int(sample_next_token(logits, 1.0, top_p=1e-6, generator=g)) for _ in range(50)} == {0}
    # top-p renormalises: with p = 0.8 the split is 0.5 : 0.3.
    counts = torch.bincount(
        torch.stack([sample_next_token(logits, 1.0, top_p=0.8, generator=g) for _ in range(4000)]).flatten(),
        minlength=4,
    )
    assert abs(counts[0].item() / 4000 - 0.625) < 0.04


def test_temperature_zero_is_argmax_and_bad_options_raise():
    logits = torch.randn(4, 10)
    assert torch.equal(sample_next_token(logits, 0.0), logits.argmax(-1))
    for kwargs, match in [
        (dict(temperature=-1.0), "temperature"),
        (dict(top_k=0), "top_k"),
        (dict(top_p=0.0), "top_p"),
        (dict(top_p=1.5), "top_p"),
    ]:
        with pytest.raises(ConfigError, match=match):
            sample_next_token(logits, **{"temperature": 1.0, **kwargs})


def test_bad_prompts_raise(model):
    with pytest.raises(ConfigError, match="outside the vocabulary"):
        generate(model, [1, V], 3)
    with pytest.raises(ConfigError, match="empty"):
        generate(model, [[1], []], 3)
    with pytest.raises(ConfigError, match="max_new_tokens"):
        generate(model, [1], -1)


def test_kv_cache_overflow_and_reset():
    cache = KVCache(num_layers=1, max_len=3)
    k = torch.randn(1, 2, 2, 4)
    keys, _ = cache.update(0, k, k)
    assert keys.shape == (1, 2, 2, 4)
    cache.advance(2)
    with pytest.raises(ConfigError, match="overflow"):
        cache.update(0, k, k)
    cache.reset()
    assert cache.length == 0
