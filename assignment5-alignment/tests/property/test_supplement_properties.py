"""Property tests of the supplement: parsers, packing, the synthetic data's verifiable answers."""

import json
import re

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from cs336_alignment.data.instruct_synthetic import TASKS, instruction_rows, preference_rows  # noqa: E402
from cs336_alignment.evals.parsers import parse_gsm8k_response, parse_mmlu_response  # noqa: E402
from cs336_alignment.instruct.packed import PackedSFTDataset, format_alpaca  # noqa: E402
from tests.tiny import make_tokenizer  # noqa: E402

EXAMPLE = {"subject": "s", "question": "q", "options": ["w", "x", "y", "z"], "answer": "A"}
# Filler text that never contains digits nor the answer sentence nor an option.
filler = st.text(alphabet=st.sampled_from(list("abcdefghijklmnopqrstuv .,!?\n")), max_size=40)
TOK = make_tokenizer()


@given(prefix=filler, suffix=filler, letter=st.sampled_from("ABCD"), paren=st.booleans(), lower=st.booleans())
def test_mmlu_answer_sentence_anywhere(prefix, suffix, letter, paren, lower):
    sentence = "the correct answer is " if lower else "The correct answer is "
    body = f"({letter})" if paren else letter
    assert parse_mmlu_response(EXAMPLE, f"{prefix} {sentence}{body}. {suffix}") == letter


@given(prefix=filler, value=st.integers(-(10**9), 10**9), frac=st.none() | st.integers(0, 999), commas=st.booleans())
def test_gsm8k_last_number_roundtrip(prefix, value, frac, commas):
    text = f"{value:,}" if commas else str(value)
    if frac is not None:
        text += f".{frac}"
    parsed = parse_gsm8k_response(f"{prefix} 17 then {text}{prefix}")
    assert parsed is not None and float(parsed) == float(text.replace(",", ""))


@given(filler)
def test_gsm8k_no_digits_is_none(text):
    assert parse_gsm8k_response(text) is None


@settings(max_examples=20, deadline=None)
@given(rows=st.lists(st.tuples(filler, filler), min_size=1, max_size=6), seq=st.integers(1, 24))
def test_packing_is_the_stream_cut_in_windows(tmp_path_factory, rows, seq):
    path = tmp_path_factory.mktemp("pack") / "rows.jsonl"
    path.write_text("".join(json.dumps({"prompt": p, "response": r}) + "\n" for p, r in rows))
    ds = PackedSFTDataset(TOK, path, seq, shuffle=False)
    stream = [t for p, r in rows for t in TOK.encode(format_alpaca(p, r)) + [TOK.eos_token_id]]
    assert len(ds) == (len(stream) - 1) // seq
    inputs = [t for i in range(len(ds)) for t in ds[i]["input_ids"].tolist()]
    labels = [t for i in range(len(ds)) for t in ds[i]["labels"].tolist()]
    assert inputs == stream[: len(ds) * seq] and labels == stream[1 : len(ds) * seq + 1]


@settings(max_examples=30)
@given(seed=st.integers(0, 10**6))
def test_synthetic_answers_are_verifiable(seed):
    for row in instruction_rows(20, seed):
        if row["task"] == "arithmetic":
            a, op, b = re.search(r"(\d+) ([-+*]) (\d+)", row["prompt"]).groups()
            value = {"+": int(a) + int(b), "-": int(a) - int(b), "*": int(a) * int(b)}[op]
            assert row["response"].endswith(f"The answer is {value}.")
        elif row["task"] == "reverse":
            words = row["prompt"].split(": ", 1)[1].split()
            assert row["response"].split() == words[::-1]
        elif row["task"] == "sort":
            nums = [int(x) for x in row["prompt"].split(": ", 1)[1].split(", ")]
            assert [int(x) for x in row["response"].split(", ")] == sorted(nums)
        elif row["task"] == "uppercase":
            assert row["response"] == row["prompt"].split(": ", 1)[1].upper()
    for pair in preference_rows(20, seed):
        assert pair["chosen"] != pair["rejected"] and pair["task"] in {*TASKS, "harmful"}
