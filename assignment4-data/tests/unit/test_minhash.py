import numpy as np
import pytest

from cs336_data.dedup.minhash import (
    find_duplicate_clusters,
    jaccard,
    lsh_candidate_pairs,
    minhash_deduplication,
    minhash_signature,
    normalize_for_dedup,
    word_ngrams,
)
from cs336_data.errors import ConfigError
from tests.adapters import run_minhash_deduplication

BASE = " ".join(f"word{i}" for i in range(200))


def test_normalisation_order():
    assert normalize_for_dedup("  Héllo,   WÖRLD!\n\tÇa—va? ") == "hello world ca va"
    assert normalize_for_dedup("e\u0301") == "e"  # NFD first, then combining marks removed


def test_word_ngrams():
    assert word_ngrams("a b c d", 2) == {"a b", "b c", "c d"}
    assert word_ngrams("a b", 5) == {"a b"}
    assert word_ngrams("", 3) == set()
    with pytest.raises(ConfigError):
        word_ngrams("a", 0)


def test_signature_shape_dtype_and_seed():
    s = word_ngrams(BASE, 3)
    sig = minhash_signature(s, 64, seed=1)
    assert sig.dtype == np.uint32 and sig.shape == (64,)
    assert np.array_equal(sig, minhash_signature(set(sorted(s)), 64, seed=1))
    assert not np.array_equal(sig, minhash_signature(s, 64, seed=2))
    assert minhash_signature(set(), 64) is None


def test_bands_must_divide_hashes():
    sigs = [minhash_signature({"a"}, 10)]
    with pytest.raises(ConfigError, match="multiple"):
        lsh_candidate_pairs(sigs, 3)
    with pytest.raises(ConfigError):
        find_duplicate_clusters(["a"], num_hashes=10, num_bands=3, ngrams=1, jaccard_threshold=0.5)


def test_clusters_transitive_and_seeded_survivor():
    docs = [BASE, BASE.replace("word5 ", "x "), BASE.replace("word150 ", "y "), "something else entirely here", ""]
    docs.append("")
    res = find_duplicate_clusters(docs, num_hashes=128, num_bands=16, ngrams=3, jaccard_threshold=0.8, seed=0)
    assert res.clusters == [[0, 1, 2], [4, 5]]
    assert len(res.survivors) == 3 and 3 in res.survivors
    again = find_duplicate_clusters(docs, num_hashes=128, num_bands=16, ngrams=3, jaccard_threshold=0.8, seed=0)
    assert again.survivors == res.survivors


def test_threshold_equality_counts():
    a, b = "a b c d", "a b c e"  # unigram Jaccard 3/5
    assert jaccard(set(a.split()), set(b.split())) == 0.6
    res = find_duplicate_clusters([a, b], num_hashes=4, num_bands=4, ngrams=1, jaccard_threshold=0.6)
    res_hi = find_duplicate_clusters([a, b], num_hashes=4, num_bands=4, ngrams=1, jaccard_threshold=0.61)
    if res.num_candidate_pairs:  # candidates depend on the hash draw; verification must follow the threshold exactly
        assert res.clusters == [[0, 1]]
    assert res_hi.clusters == []


def test_output_byte_identical_and_only_kept_files(tmp_path):
    (tmp_path / "in").mkdir()
    texts = {"a.txt": BASE + "\r\n", "b.txt": BASE.upper() + "!", "c.txt": "unrelated short text\n"}
    for name, text in texts.items():
        (tmp_path / "in" / name).write_bytes(text.encode())
    inputs = sorted((tmp_path / "in").iterdir())
    report = run_minhash_deduplication(
        input_files=inputs,
        num_hashes=100,
        num_bands=10,
        ngrams=5,
        jaccard_threshold=0.8,
        output_directory=tmp_path / "o",
    )
    out = sorted(p.name for p in (tmp_path / "o").iterdir())
    assert len(out) == 2 and "c.txt" in out and report.num_kept == 2
    for name in out:
        assert (tmp_path / "o" / name).read_bytes() == (tmp_path / "in" / name).read_bytes()


@pytest.mark.needs_data
def test_course_fixture(shared_data, tmp_path):
    inputs = sorted((shared_data / "web" / "documents_with_fuzzy_duplicates").iterdir())
    minhash_deduplication(inputs, 100, 10, 5, 0.8, tmp_path)
    kept = sorted(p.name for p in tmp_path.iterdir())
    assert len(kept) == len(inputs) - 1
