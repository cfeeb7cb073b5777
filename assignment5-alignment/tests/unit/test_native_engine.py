"""Native KV-cache engine on a tiny random assignment-1 TransformerLM."""

import pytest
import torch

from cs336_alignment.rollout.base import SamplingParams
from cs336_alignment.rollout.native import NativeEngine, StaticKVCache, sample_tokens
from tests.tiny import make_tokenizer

model_mod = pytest.importorskip("cs336_basics.model")


@pytest.fixture(scope="module")
def tok():
    return make_tokenizer()


@pytest.fixture(scope="module")
def lm(tok):
    torch.manual_seed(0)
    return model_mod.TransformerLM(
        vocab_size=len(tok), context_length=64, d_model=32, num_layers=2, num_heads=4, d_ff=64
    ).eval()


def test_cached_incremental_logits_equal_full_forward(lm):
    torch.manual_seed(1)
    seq = torch.randint(0, lm.vocab_size, (1, 20))
    with torch.no_grad():
        full = lm(seq)
        cache = StaticKVCache(2, 1, 4, 20, 8, "cpu", torch.float32)
        pre = lm(seq[:, :12], torch.arange(12)[None], kv_cache=cache)
        cache.advance(12)
        steps = [pre]
        for t in range(12, 20):
            steps.append(lm(seq[:, t : t + 1], torch.tensor([[t]]), kv_cache=cache))
            cache.advance(1)
    inc = torch.cat(steps, dim=1)
    assert (inc - full).abs().max().item() < 1e-5


def test_left_padded_batch_matches_unpadded_rows_greedy(lm, tok):
    engine = NativeEngine(lm, tok)
    prompts = ["User: Tom has 3 apples", "Hi", "Sam had 12 coins, gave away 5 and found 9."]
    params = SamplingParams(temperature=0.0, max_tokens=12)
    batched = engine.generate(prompts, params)
    for prompt, out in zip(prompts, batched):
        single = engine.generate([prompt], params)[0][0]
        assert out[0].token_ids == single.token_ids
        # reference greedy decode without any cache
        ids = tok.encode(prompt, add_special_tokens=False)
        ref = []
        with torch.no_grad():
            for _ in range(len(single.token_ids)):
                nxt = int(lm(torch.tensor([ids + ref]))[0, -1].argmax())
                ref.append(nxt)
                if nxt == tok.eos_token_id:
                    break
        assert single.token_ids == ref
        assert single.finish_reason in ("stop", "length")


def test_seeded_sampling_is_reproducible_and_n_samples_differ(lm, tok):
    engine = NativeEngine(lm, tok)
    params = SamplingParams(temperature=1.0, max_tokens=10, n=4, seed=123)
    a = engine.generate(["Hi", "User:"], params)
    b = engine.generate(["User:"], params)  # same request, different batch
    assert [c.token_ids for c in a[1]] == [c.token_ids for c in b[0]]
    assert len({tuple(c.token_ids) for c in a[0]}) > 1
    assert all(len(c.token_ids) == 10 or c.finish_reason == "stop" for c in a[0])


def test_min_tokens_suppresses_eos_and_stop_string_truncates(lm, tok):
    eos = tok.eos_token_id

    def boost_eos(module, inputs, output):  # EOS overwhelmingly likely: min_tokens must still hold it back
        output = output.clone()
        output[..., eos] += 50.0
        return output

    # (Adding to the EOS row of the head weight instead would shift the logit by 50 * sum(h), whose sign varies.)
    handle = lm.lm_head.register_forward_hook(boost_eos)
    try:
        engine = NativeEngine(lm, tok)
        out = engine.generate(["Hi"], SamplingParams(temperature=1.0, max_tokens=8, min_tokens=3, seed=0))[0][0]
        assert len(out.token_ids) == 4 and out.token_ids[-1] == eos and eos not in out.token_ids[:3]
        assert out.finish_reason == "stop"
    finally:
        handle.remove()


def test_stop_string_spanning_tokens(lm, tok):
    engine = NativeEngine(lm, tok)
    greedy = engine.generate(["User: Tom"], SamplingParams(temperature=0.0, max_tokens=16))[0][0]
    assert len(greedy.text) >= 4
    stop = greedy.text[2:5]  # a stop string that appears in the greedy continuation
    out = engine.generate(["User: Tom"], SamplingParams(temperature=0.0, max_tokens=16, stop=(stop,)))[0][0]
    assert out.finish_reason == "stop" and out.text.endswith(stop) and out.text.count(stop) == 1
    assert tok.decode(out.token_ids).startswith(out.text)
    out2 = engine.generate(
        ["User: Tom"], SamplingParams(temperature=0.0, max_tokens=16, stop=(stop,), include_stop_str_in_output=False)
    )[0][0]
    assert out2.text == out.text[: -len(stop)]


def test_sample_tokens_top_p_keeps_only_the_nucleus():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]])).repeat(2000, 1)
    u = torch.rand(2000, generator=torch.Generator().manual_seed(0))
    toks = sample_tokens(logits, torch.ones(2000), torch.full((2000,), 0.75), u)
    counts = torch.bincount(toks, minlength=4).float() / 2000
    assert counts[2] == 0 and counts[3] == 0
    assert abs(counts[0].item() - 0.5 / 0.8) < 0.05
    greedy = sample_tokens(logits[:3], torch.zeros(3), torch.ones(3), u[:3])
    assert greedy.tolist() == [0, 0, 0]


def test_sync_weights_copies_into_a_replica(lm, tok):
    replica = model_mod.TransformerLM(
        **{k: lm.config[k] for k in ("vocab_size", "context_length", "d_model", "num_layers", "num_heads", "d_ff")}
    ).eval()
    engine = NativeEngine(replica, tok)
    engine.sync_weights(lm)
    p = SamplingParams(temperature=0.0, max_tokens=6)
    assert engine.generate(["Hi"], p)[0][0].token_ids == NativeEngine(lm, tok).generate(["Hi"], p)[0][0].token_ids


def test_truncate_at_stop_ignores_stops_inside_min_tokens(tok):
    from cs336_alignment.rollout.base import TextCodec, truncate_at_stop

    codec = TextCodec(tok)
    ids = tok.encode("A </answer> B </answer> C", add_special_tokens=False)
    text, cut, stopped = truncate_at_stop(codec, ids, ["</answer>"], True)
    assert stopped and text == "A </answer>" and tok.decode(cut).startswith(text)
    n_first = len(tok.encode("A </answer>", add_special_tokens=False))
    text, _, _ = truncate_at_stop(codec, ids, ["</answer>"], True, min_tokens=n_first + 1)
    assert text == "A </answer> B </answer>"
    text, _, _ = truncate_at_stop(codec, ids, ["</answer>"], False, min_tokens=n_first)
    assert text == "A "


@pytest.mark.parametrize("sync_every", [1, 3, 64])
def test_host_check_interval_does_not_change_results(lm, tok, sync_every):
    prompts = ["User: Tom has 3 apples", "Hi", "Sam had 12 coins"]
    reference = NativeEngine(lm, tok, sync_every=8)
    engine = NativeEngine(lm, tok, sync_every=sync_every)
    greedy = reference.generate(["User: Tom"], SamplingParams(temperature=0.0, max_tokens=16))[0][0]
    stop = greedy.text[3:6]  # a stop string that shows up, spanning tokens
    for params in (
        SamplingParams(temperature=1.0, max_tokens=20, min_tokens=2, n=3, seed=5, stop=(stop,)),
        [SamplingParams(temperature=0.0, max_tokens=m, stop=(stop,)) for m in (5, 17, 9)],
    ):
        a, b = reference.generate(prompts, params), engine.generate(prompts, params)
        assert [[(c.token_ids, c.text, c.finish_reason) for c in row] for row in a] == [
            [(c.token_ids, c.text, c.finish_reason) for c in row] for row in b
        ]


def test_per_row_budgets_end_rows_at_their_own_max_tokens(lm, tok):
    engine = NativeEngine(lm, tok, sync_every=4)
    params = [SamplingParams(temperature=1.0, max_tokens=m, min_tokens=m, seed=1) for m in (3, 11, 7)]
    out = engine.generate(["Hi", "Hi", "Hi"], params)
    assert [len(row[0].token_ids) for row in out] == [3, 11, 7]
    assert all(row[0].finish_reason == "length" for row in out)


@pytest.mark.gpu
def test_cuda_graph_decoding_matches_eager_decoding(tok):
    torch.manual_seed(0)
    model = model_mod.TransformerLM(
        vocab_size=len(tok), context_length=64, d_model=32, num_layers=2, num_heads=4, d_ff=64, attn_backend="torch"
    ).to("cuda")
    prompts = ["User: Tom has 3 apples", "Hi", "Sam had 12 coins"]
    params = SamplingParams(temperature=0.0, max_tokens=24, n=2, stop=("</answer>",))
    graph = NativeEngine(model, tok)
    a = graph.generate(prompts, params)
    b = NativeEngine(model, tok, cuda_graphs=False).generate(prompts, params)
    assert graph.num_graph_batches == 1
    assert [[c.token_ids for c in row] for row in a] == [[c.token_ids for c in row] for row in b]


def test_static_shape_step_equals_sliced_eager_step(lm, tok):
    """The graph-capturable step (whole cache under a mask, device-held slot) run eagerly == the sliced step."""
    prompts = ["User: Tom has 3 apples", "Hi", "Sam had 12 coins"]
    sliced = NativeEngine(lm, tok, sync_every=3)
    static = NativeEngine(lm, tok, sync_every=3)
    static.static_eager = True
    for params in (
        SamplingParams(temperature=0.0, max_tokens=14),
        SamplingParams(temperature=1.0, top_p=0.9, max_tokens=12, min_tokens=3, n=2, seed=7),
    ):
        a, b = sliced.generate(prompts, params), static.generate(prompts, params)
        assert [[c.token_ids for c in row] for row in a] == [[c.token_ids for c in row] for row in b]
