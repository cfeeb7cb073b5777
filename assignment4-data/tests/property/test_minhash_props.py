import random

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from cs336_data.dedup.minhash import find_duplicate_clusters, jaccard, lsh_candidate_pairs, minhash_signature

VOCAB = [f"w{i}" for i in range(60)]
shingle_sets = st.sets(st.sampled_from(VOCAB), min_size=1, max_size=60)


@settings(max_examples=100, deadline=None)
@given(shingle_sets, shingle_sets)
def test_signature_estimates_jaccard(a, b):
    k = 512
    sa, sb = minhash_signature(a, k, seed=7), minhash_signature(b, k, seed=7)
    estimate = float(np.mean(sa == sb))
    assert abs(estimate - jaccard(a, b)) <= 0.08


def test_candidate_rate_follows_s_curve():
    rng = random.Random(0)
    num_hashes, bands = 64, 16
    rows = num_hashes // bands
    for s_target in (0.3, 0.6, 0.9):
        hits = 0
        trials = 300
        for t in range(trials):
            universe = [f"t{t}_{i}" for i in range(200)]
            common = int(200 * 2 * s_target / (1 + s_target))
            shared = set(universe[:common])
            a = shared | set(universe[common : common + (200 - common) // 2])
            b = shared | set(universe[common + (200 - common) // 2 :])
            s = jaccard(a, b)
            seed = rng.randrange(1000)
            sigs = [minhash_signature(a, num_hashes, seed), minhash_signature(b, num_hashes, seed)]
            hits += bool(lsh_candidate_pairs(sigs, bands))
        expected = 1 - (1 - s**rows) ** bands
        assert abs(hits / trials - expected) < 0.1, (s_target, hits / trials, expected)


docs_strategy = st.lists(
    st.lists(st.sampled_from(["a", "b", "c", "d", "e", "f"]), min_size=0, max_size=12), max_size=10
)


@settings(max_examples=60, deadline=None)
@given(docs_strategy, st.randoms(use_true_random=False))
def test_clusters_do_not_depend_on_input_order(words, rnd):
    texts = [" ".join(w) for w in words]
    kw = dict(num_hashes=32, num_bands=8, ngrams=2, jaccard_threshold=0.5, seed=0)
    res = find_duplicate_clusters(texts, **kw)
    perm = list(range(len(texts)))
    rnd.shuffle(perm)
    res_p = find_duplicate_clusters([texts[i] for i in perm], **kw)
    as_sets = {frozenset(c) for c in res.clusters}
    as_sets_p = {frozenset(perm[i] for i in c) for c in res_p.clusters}
    assert as_sets == as_sets_p
    # dedup is idempotent: the survivors contain no further duplicate cluster
    survivors = [texts[i] for i in res.survivors]
    assert find_duplicate_clusters(survivors, **kw).clusters == []
