"""Our MinHash/LSH duplicate pairs and clusters against datasketch's MinHashLSH on the same documents."""

import random

import pytest

from cs336_data.dedup.minhash import find_duplicate_clusters, jaccard, normalize_for_dedup, word_ngrams

datasketch = pytest.importorskip("datasketch")


def planted_corpus(num_groups: int = 40, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    vocab = [f"tok{i}" for i in range(3000)]
    docs = []
    for _ in range(num_groups):
        base = rng.choices(vocab, k=rng.randint(200, 400))
        docs.append(" ".join(base))
        for _ in range(rng.randint(0, 3)):
            variant = base[:]
            # light edits (Jaccard well above the S-curve midpoint) or a heavy rewrite (well below the threshold):
            # pairs near the midpoint are found by either LSH only by chance, so they would test luck, not code
            for _ in range(rng.choice([1, 2, 3, 150])):
                variant[rng.randrange(len(variant))] = rng.choice(vocab)
            docs.append(" ".join(variant))
    rng.shuffle(docs)
    return docs


def datasketch_pairs(docs, num_perm, bands, ngrams, threshold):
    shingles = [word_ngrams(normalize_for_dedup(d), ngrams) for d in docs]
    lsh = datasketch.MinHashLSH(num_perm=num_perm, params=(bands, num_perm // bands))
    hashes = []
    for i, s in enumerate(shingles):
        m = datasketch.MinHash(num_perm=num_perm, seed=1)
        m.update_batch([x.encode() for x in s])
        lsh.insert(str(i), m)
        hashes.append(m)
    pairs = set()
    for i, m in enumerate(hashes):
        for key in lsh.query(m):
            j = int(key)
            if i < j and jaccard(shingles[i], shingles[j]) >= threshold:
                pairs.add((i, j))
    return pairs


@pytest.mark.parametrize(("num_perm", "bands"), [(100, 10), (128, 16)])
def test_duplicate_pairs_agree(num_perm, bands):
    docs = planted_corpus()
    ours = find_duplicate_clusters(
        docs, num_hashes=num_perm, num_bands=bands, ngrams=3, jaccard_threshold=0.7
    ).duplicate_pairs
    theirs = datasketch_pairs(docs, num_perm, bands, 3, 0.7)
    union = ours | theirs
    agreement = len(ours & theirs) / len(union)
    assert len(union) > 20
    assert agreement >= 0.98, (len(ours), len(theirs), agreement)


def test_clusters_agree_with_datasketch_union_find():
    from cs336_data.dedup.minhash import UnionFind

    docs = planted_corpus(num_groups=60, seed=3)
    ours = find_duplicate_clusters(docs, num_hashes=128, num_bands=16, ngrams=3, jaccard_threshold=0.7)
    uf = UnionFind(len(docs))
    for i, j in datasketch_pairs(docs, 128, 16, 3, 0.7):
        uf.union(i, j)
    groups: dict[int, set[int]] = {}
    for i in range(len(docs)):
        groups.setdefault(uf.find(i), set()).add(i)
    theirs = {frozenset(g) for g in groups.values() if len(g) > 1}
    mine = {frozenset(c) for c in ours.clusters}
    assert len(mine) > 10
    assert len(mine & theirs) / len(mine | theirs) >= 0.95
    assert len(ours.survivors) == len(docs) - sum(len(c) - 1 for c in ours.clusters)
