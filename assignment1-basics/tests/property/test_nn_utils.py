"""Property tests: softmax / cross-entropy / clipping agree with torch for random shapes and scales."""

import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from cs336_basics.nn_utils import clip_gradient, cross_entropy, log_softmax, softmax

shapes = st.lists(st.integers(1, 4), min_size=0, max_size=3)


@settings(max_examples=40, deadline=None)
@given(lead=shapes, vocab=st.integers(2, 40), scale=st.sampled_from([1e-3, 1.0, 30.0, 1e3]), seed=st.integers(0, 9999))
def test_cross_entropy_matches_torch(lead, vocab, scale, seed):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(*lead, vocab, generator=g, dtype=torch.float64) * scale
    targets = torch.randint(0, vocab, tuple(lead), generator=g)
    expected = F.cross_entropy(logits.reshape(-1, vocab), targets.reshape(-1))
    torch.testing.assert_close(cross_entropy(logits, targets), expected)


@settings(max_examples=40, deadline=None)
@given(lead=shapes, n=st.integers(1, 30), shift=st.floats(-1e3, 1e3), seed=st.integers(0, 9999))
def test_softmax_is_a_shift_invariant_distribution(lead, n, shift, seed):
    x = torch.randn(*lead, n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 10
    p = softmax(x, dim=-1)
    torch.testing.assert_close(p, torch.softmax(x, dim=-1))
    torch.testing.assert_close(softmax(x + shift, dim=-1), p)
    torch.testing.assert_close(p.sum(-1), torch.ones(p.shape[:-1], dtype=p.dtype))
    torch.testing.assert_close(log_softmax(x + shift), torch.log_softmax(x, dim=-1))


@settings(max_examples=30, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 20), min_size=1, max_size=5),
    scale=st.floats(1e-3, 1e3),
    max_norm=st.floats(1e-2, 10.0),
    seed=st.integers(0, 9999),
)
def test_clipping_matches_clip_grad_norm(sizes, scale, max_norm, seed):
    g = torch.Generator().manual_seed(seed)
    grads = [torch.randn(s, generator=g, dtype=torch.float64) * scale for s in sizes]
    ours = [torch.nn.Parameter(torch.zeros(s, dtype=torch.float64)) for s in sizes]
    ref = [torch.nn.Parameter(torch.zeros(s, dtype=torch.float64)) for s in sizes]
    for p, r, gr in zip(ours, ref, grads):
        p.grad, r.grad = gr.clone(), gr.clone()
    torch.testing.assert_close(clip_gradient(ours, max_norm), torch.nn.utils.clip_grad_norm_(ref, max_norm))
    for p, r in zip(ours, ref):
        torch.testing.assert_close(p.grad, r.grad, rtol=1e-6, atol=1e-9)
    assert torch.linalg.vector_norm(torch.cat([p.grad for p in ours])) <= max_norm * (1 + 1e-6)
