"""Synthetic instruction/preference generators, the HH loader, the learning-rate schedule, tokenizer files, judges."""

import gzip
import json
import math

import pytest

from cs336_alignment.data.instruct_synthetic import (
    HARMFUL_REQUESTS,
    NUM_HELD_OUT_HARMFUL,
    instruction_splits,
    preference_splits,
)
from cs336_alignment.dpo_data import hh_pair, load_hh
from cs336_alignment.errors import AlignmentError
from cs336_alignment.evals.judge import RefusalKeywordJudge, parse_pairwise, parse_safety
from cs336_alignment.instruct.tokenizer import gpt2_tokenizer, resolve_tokenizer
from cs336_alignment.schedule import lr_at
from cs336_alignment.supplement_config import ScheduleConfig


def test_synthetic_splits_are_seeded_and_disjoint():
    train, val = instruction_splits(300, 50, seed=3)
    assert (train, val) == instruction_splits(300, 50, seed=3)
    assert train != instruction_splits(300, 50, seed=4)[0]
    assert len(val) == 50 and not {r["prompt"] for r in train} & {r["prompt"] for r in val}
    ptrain, pval = preference_splits(400, 60, seed=0)
    assert not {r["prompt"] for r in ptrain} & {r["prompt"] for r in pval}
    held_out = HARMFUL_REQUESTS[-NUM_HELD_OUT_HARMFUL:]
    assert not any(h in r["prompt"] for r in ptrain for h in held_out)  # refusal must generalise to new requests
    assert any(r["task"] == "harmful" for r in pval)


def test_hh_single_turn_only(tmp_path):
    one = (
        "\n\nHuman: How do I bake bread?\n\nAssistant: Mix flour and water.",
        "\n\nHuman: How do I bake bread?\n\nAssistant: No.",
    )
    multi = "\n\nHuman: Hi\n\nAssistant: Hello\n\nHuman: Bye\n\nAssistant: Bye"
    assert hh_pair(*one, "helpful-base").chosen == "Mix flour and water."
    assert hh_pair(multi, multi, "x") is None
    with gzip.open(tmp_path / "helpful-base.jsonl.gz", "wt") as f:
        f.write(json.dumps({"chosen": one[0], "rejected": one[1]}) + "\n")
        f.write(json.dumps({"chosen": multi, "rejected": multi}) + "\n")
    pairs = load_hh(tmp_path)
    assert len(pairs) == 1 and pairs[0].prompt == "How do I bake bread?" and pairs[0].source == "helpful-base"
    with pytest.raises(AlignmentError, match="HH"):
        load_hh(tmp_path / "empty")


def test_cosine_schedule_with_warmup():
    cfg = ScheduleConfig(lr=1.0, warmup_ratio=0.1, min_lr_ratio=0.1)
    lrs = [lr_at(s, 100, cfg) for s in range(100)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)  # 10 warm-up steps, linear
    assert lrs[10] == pytest.approx(1.0) and lrs[-1] == pytest.approx(0.1)
    mid = 10 + (99 - 10) / 2
    assert lr_at(int(mid), 100, cfg) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (int(mid) - 10) / 89)))
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))
    const = ScheduleConfig(lr=2.0, schedule="constant", warmup_ratio=0.0)
    assert {lr_at(s, 50, const) for s in range(50)} == {2.0}


def test_gpt2_style_files_build_a_byte_level_tokenizer(tmp_path):
    vocab = {chr(c): i for i, c in enumerate(range(ord("a"), ord("z") + 1))}
    vocab["Ġ"] = len(vocab)
    vocab["ab"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    (tmp_path / "gpt2_vocab.json").write_text(json.dumps(vocab))
    (tmp_path / "gpt2_merges.txt").write_text("#version: 0.2\na b\n")
    tok = resolve_tokenizer(tmp_path)
    assert tok.encode("abc") == [vocab["ab"], vocab["c"]] and tok.eos_token_id == vocab["<|endoftext|>"]
    assert (
        gpt2_tokenizer(tmp_path / "gpt2_vocab.json", tmp_path / "gpt2_merges.txt").decode(tok.encode("ab c")) == "ab c"
    )
    with pytest.raises(AlignmentError, match="neither"):
        resolve_tokenizer(tmp_path.parent)


@pytest.mark.needs_data
def test_gpt2_tokenizer_matches_assignment1_tokenizer(shared_data):
    from cs336_basics.tokenizer import Tokenizer

    folder = shared_data / "tokenizer"
    ours = resolve_tokenizer(folder)
    ref = Tokenizer.from_files(folder / "gpt2_vocab.json", folder / "gpt2_merges.txt", special_tokens=["<|endoftext|>"])
    text = "### Response:\n  12,345 apples... <|endoftext|> naïve café"
    assert ours.encode(text) == ref.encode(text)


@pytest.mark.parametrize(
    ("reply", "expected"), [("a)", "a"), (" b", "b"), ("Output (b)", "b"), ("about", None), ("", None), ("c", None)]
)
def test_parse_pairwise(reply, expected):
    assert parse_pairwise(reply) == expected


def test_safety_parsing_and_refusal_heuristic():
    assert parse_safety(" True, it helps") is True and parse_safety("false") is False and parse_safety("maybe") is None
    verdicts = RefusalKeywordJudge().unsafe(["x", "y"], ["I can't help with that.", "Sure, here is how."])
    assert verdicts == [False, True]
