"""ArithWord generator and GSM8K/JSONL loaders."""

import json
import re

import pytest

from cs336_alignment.data.examples import gsm8k_example, load_examples
from cs336_alignment.data.synthetic import ArithWordSpec, generate_split, make_splits, pretrain_documents
from cs336_alignment.errors import AlignmentError
from cs336_alignment.rewards import r1_zero_reward_fn


def _replay(reasoning: str) -> int:
    """Check every equation of a trace with Python arithmetic and return the last result."""
    value = None
    for lhs, rhs in re.findall(r"([\d\s+\-*]+)=\s*(\d+)", reasoning):
        assert eval(lhs) == int(rhs), f"{lhs} != {rhs}"  # noqa: S307 - digits and + - * only
        value = int(rhs)
    return value


@pytest.mark.parametrize("spec", [ArithWordSpec(), ArithWordSpec(min_steps=3, max_steps=5, max_value=500)])
def test_problems_have_exact_integer_answers_and_valid_traces(spec):
    for ex in generate_split(300, seed=1, spec=spec):
        reasoning = ex.response.split("</think>")[0]
        assert _replay(reasoning) == int(ex.answer) >= 0
        steps = ex.question.count(".") - ex.question.count("...")
        assert spec.min_steps <= steps - 1 <= spec.max_steps  # one sentence per step after the opening one
        assert r1_zero_reward_fn(ex.response, ex.answer)["reward"] == 1.0


def test_splits_are_disjoint_and_deterministic():
    train, val = make_splits(500, 100, seed=0, spec=ArithWordSpec())
    assert not {e.question for e in train} & {e.question for e in val}
    assert make_splits(500, 100, seed=0, spec=ArithWordSpec())[0] == train
    assert make_splits(500, 100, seed=1, spec=ArithWordSpec())[0] != train


def test_pretrain_documents_mix_formats():
    docs = pretrain_documents(generate_split(400, 0, ArithWordSpec()), seed=0)
    assert any("#### " in d for d in docs) and any("\\boxed{" in d for d in docs)
    assert any("</think> <answer>" in d for d in docs) and any("Answer: " in d for d in docs)


def test_gsm8k_conversion_and_jsonl_errors(tmp_path):
    row = {"question": "Q?", "answer": "3 + 4 = <<3+4=7>>7 apples\nthen 7 * 2 = <<7*2=14>>14\n#### 1,014"}
    ex = gsm8k_example(row)
    assert ex.answer == "1014" and "<<" not in ex.response
    assert ex.response.endswith("</think> <answer> 1014 </answer>")
    path = tmp_path / "x.jsonl"
    path.write_text(json.dumps({"problem": "1+1", "solution": "2"}) + "\n")
    assert load_examples(path, "jsonl", "problem", "solution")[0].answer == "2"
    with pytest.raises(AlignmentError, match="lacks 'question'"):
        load_examples(path, "jsonl")
    path.write_text("{bad\n")
    with pytest.raises(AlignmentError, match="x.jsonl:1 is not valid JSON"):
        load_examples(path, "jsonl")


@pytest.mark.needs_data
def test_shared_gsm8k_traces_grade_correct(shared_data):
    examples = load_examples(shared_data / "alignment" / "gsm8k" / "test.jsonl", "gsm8k")
    assert len(examples) == 1319
    ok = sum(r1_zero_reward_fn(ex.response, ex.answer)["reward"] for ex in examples[:200])
    assert ok == 200


def test_preformatted_sft_rows(tmp_path):
    from cs336_alignment.rewards import get_protocol

    path = tmp_path / "sft.jsonl"
    path.write_text(
        json.dumps({"prompt": "P: 1+1\nAssistant: <think>", "response": " 2 </think> <answer> 2 </answer>"})
    )
    ex = load_examples(path, "jsonl")[0]
    assert ex.render(get_protocol("r1_zero")) == "P: 1+1\nAssistant: <think>" and ex.answer == ""
    assert gsm8k_example({"question": "Q", "answer": "x\n#### 3"}).render(get_protocol("question_only")) == "Q"
