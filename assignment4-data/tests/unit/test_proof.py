"""The filtering proof (issue §4): planning, splits, near-duplicates, and the whole script at toy scale on CPU."""

import json
import math
import random

import numpy as np
import pytest

from cs336_data.proof import BuildConfig, TrainSetup, _near_dup, plan_runs, split_english


def test_plan_runs_gives_both_arms_the_same_tokens():
    manifest = {"tokens": {"filtered": 100_000, "unfiltered": 350_000, "val": 5_000}}
    setup = TrainSetup(batch_size=4, context_length=32, seeds=(0, 1), epochs=(1.0, 3.0), repeat_seeds=1)
    runs = plan_runs(manifest, setup)
    assert [(r["regime"], r["seed"], r["arm"]) for r in runs] == [
        ("1x", 0, "filtered"),
        ("1x", 0, "unfiltered"),
        ("1x", 1, "filtered"),
        ("1x", 1, "unfiltered"),
        ("3x", 0, "filtered"),
        ("3x", 0, "unfiltered"),
    ]
    for regime, epochs in (("1x", 1.0), ("3x", 3.0)):
        tokens = {r["tokens"] for r in runs if r["regime"] == regime}
        assert len(tokens) == 1  # equal tokens for both arms and every seed
        (t,) = tokens
        assert t == (int(epochs * 100_000) // 128) * 128 <= epochs * 100_000
    first = {r["arm"]: r["epochs_of_arm"] for r in runs if r["regime"] == "1x"}
    assert first["filtered"] <= 1.0 and first["unfiltered"] < 0.3  # no repetition in the primary budget
    capped = plan_runs(manifest, TrainSetup(batch_size=4, context_length=32, seeds=(0,), max_steps=3))
    assert {r["steps"] for r in capped} == {3}


def test_split_is_disjoint_and_covers_the_corpus():
    docs = [f"doc {i} " + "word " * random.Random(i).randint(5, 200) for i in range(200)]
    cfg = BuildConfig(english_corpus="", multilingual_dir="", seed=3)
    split = split_english(docs, cfg)
    assert sorted(d for part in split.values() for d in part) == sorted(docs)
    assert not set(split["val"]) & set(split["crawl"]) and not set(split["reference"]) & set(split["crawl"])
    total = sum(map(len, docs))
    assert 0.04 < sum(map(len, split["val"])) / total < 0.08
    assert split == split_english(docs, cfg)  # seeded


def test_near_duplicates_change_every_line_but_stay_minhash_duplicates():
    from cs336_data.dedup.minhash import document_shingle_set

    rng = random.Random(0)
    words = "the quick brown fox jumps over a lazy dog while seven wizards quietly judge boxing matches".split()
    paragraphs = [" ".join(rng.choice(words) for _ in range(rng.randint(8, 60))) for _ in range(12)]
    paragraphs.append("Heading without the fifth letter")
    text = "\n\n".join(paragraphs)
    dup = _near_dup(text, random.Random(1))
    assert not set(text.split("\n")) - {""} & set(dup.split("\n"))  # exact-line dedup sees only new lines
    a, b = document_shingle_set(text, ngrams=5), document_shingle_set(dup, ngrams=5)
    assert len(a & b) / len(a | b) >= 0.8


@pytest.mark.slow
@pytest.mark.needs_data
def test_proof_script_end_to_end_toy_scale(shared_data, tmp_path):
    pytest.importorskip("cs336_basics.train")
    from cs336_basics.tokenizer import Tokenizer
    from cs336_data.proof import main

    carry, out = tmp_path / "carry", tmp_path / "train"
    argv = [
        "all",
        "--scale",
        "toy",
        "--work-dir",
        str(tmp_path / "work"),
        "--carry-dir",
        str(carry),
        "--out-dir",
        str(out),
        "--english-corpus",
        str(shared_data / "corpora" / "english-docs.txt.gz"),
        "--multilingual-dir",
        str(shared_data / "corpora" / "multilingual"),
        "--num-workers",
        "1",
    ]
    assert main(argv) == 0
    manifest = json.loads((carry / "manifest.json").read_text())
    tok = Tokenizer.from_files(
        carry / "tokenizer" / "vocab.json", carry / "tokenizer" / "merges.txt", ["<|endoftext|>"]
    )
    eos = manifest["tokenizer"]["eos_id"]
    assert tok.encode("<|endoftext|>") == [eos]
    arrays = {name: np.load(carry / f"{name}.npy") for name in ("filtered", "unfiltered", "val")}
    for name, tokens in arrays.items():
        assert tokens.dtype == np.uint16 and len(tokens) == manifest["tokens"][name]
        assert int(tokens.max()) < len(tok.vocab) and int(tokens[-1]) == eos
    assert manifest["splits"]["val"]["docs"] == int((arrays["val"] == eos).sum())
    assert manifest["filter"]["counters"]["final_docs"] == int((arrays["filtered"] == eos).sum())
    assert manifest["crawl"]["pages"] == int((arrays["unfiltered"] == eos).sum())  # every page, unfiltered
    assert len(arrays["unfiltered"]) > 2 * len(arrays["filtered"])
    # the filter keeps English pages only: no foreign, boilerplate, short, teaser or abusive page survives
    assert set(manifest["filter"]["kept_pages_by_kind"]) <= {"english", "english_pii", "near_dup", "mirror"}
    assert manifest["crawl"]["pages_by_kind"]["foreign"] > 0 and manifest["filter"]["counters"]["langid/dropped"] > 0
    assert 0 <= manifest["val_13gram_contamination"]["filtered"] <= 1
    results = json.loads((out / "results.json").read_text())
    assert {r["status"] for r in results["runs"]} == {"completed"} and len(results["runs"]) == 4
    for regime in ("1x", "2x"):
        arms = [r for r in results["runs"] if r["regime"] == regime]
        assert {r["arm"] for r in arms} == {"filtered", "unfiltered"} and len({r["tokens"] for r in arms}) == 1
    for r in results["runs"]:
        assert r["curve"] and all(math.isfinite(c[2]) for c in r["curve"])
        assert 0 < r["full_val_loss"] < math.log(len(tok.vocab)) + 1
    assert {(row["regime"], row["arm"]) for row in results["summary"]} == {
        (g, a) for g in ("1x", "2x") for a in ("filtered", "unfiltered")
    }
    assert "| 1x | filtered |" in (out / "results.md").read_text()
    assert (out / "curves.png").stat().st_size > 1000


def test_cli_train_without_build_is_a_one_line_error(tmp_path, capsys):
    from cs336_data.cli import main

    assert main(["proof", "train", "--carry-dir", str(tmp_path / "missing"), "--out-dir", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "manifest.json not found" in err[0]


def test_cli_build_with_missing_corpus_is_a_one_line_error(tmp_path, capsys):
    from cs336_data.cli import main

    argv = ["proof", "build", "--english-corpus", str(tmp_path / "none.txt.gz"), "--carry-dir", str(tmp_path / "c")]
    assert main(argv) == 1
    assert capsys.readouterr().err.startswith("error: ") and not (tmp_path / "c").exists()
