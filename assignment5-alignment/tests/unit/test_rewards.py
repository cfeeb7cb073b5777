"""The reward protocol and the grader on a table of tricky cases."""

import time

import pytest

from cs336_alignment.grader import SympyWorker, extract_last_boxed, grade, normalize_answer
from cs336_alignment.rewards import get_protocol, load_prompt, question_only_reward_fn, r1_zero_reward_fn


def wrap(answer: str) -> str:
    return f"reasoning here </think> <answer> {answer} </answer>"


# (model answer, gold, expected correctness); string/rational cases need no sympy.
FAST_CASES = [
    ("1,000", "1000", True),
    ("1000", "1,000", True),
    ("18", "18", True),
    ("18 apples", "18", False),
    ("18 \\text{ apples}", "18", True),
    ("\\$18", "18", True),
    ("18\\%", "18", True),
    ("90^\\circ", "90", True),
    ("x = 5", "5", True),
    ("5.", "5", True),
    ("5.00", "5", True),
    ("10/2", "5", False),  # integer gold needs an integer answer
    ("1/2", "\\frac{1}{2}", True),
    ("\\dfrac{1}{2}", "\\frac12", True),
    ("0.5", "\\frac{1}{2}", True),
    ("-\\frac{3}{4}", "-0.75", True),
    ("\\frac{2}{4}", "\\frac{1}{2}", True),
    ("\\boxed{7}", "7", True),
    ("(1,2)", "(1, 2)", True),
    ("(1,2)", "(2,1)", False),
    ("(1,2)", "[1,2]", False),
    ("(1,2,3)", "(1,2)", False),
    ("", "0", False),
    ("7", ["6", "7"], True),
    ("7", 7, True),
    ("2.5", 2.5, True),
    ("1,234,567", "1234567", True),
]

SYMPY_CASES = [
    ("\\sqrt{8}", "2\\sqrt{2}", True),
    ("2\\sqrt2", "\\sqrt{8}", True),
    ("\\frac{\\pi}{2}", "\\pi/2", True),
    ("x^2+2x+1", "(x+1)^2", True),
    ("x^2+1", "(x+1)^2", False),
    ("(\\frac{1}{2}, 2\\sqrt{2})", "(0.5, \\sqrt{8})", True),
    ("(1, \\sqrt{4})", "(1, 2)", False),  # integer gold needs an integer answer, also inside tuples
    ("3\\pi", "\\pi", False),
    ("\\left( 3, \\frac{\\pi}{2} \\right)", "(3,\\frac{\\pi}{2})", True),
]


@pytest.mark.parametrize(("answer", "gold", "expected"), FAST_CASES)
def test_grade_fast_cases_without_sympy(answer, gold, expected):
    assert grade(answer, gold, use_sympy=False) is expected
    assert r1_zero_reward_fn(wrap(answer), gold)["reward"] == float(expected)


@pytest.mark.parametrize(("answer", "gold", "expected"), SYMPY_CASES)
def test_grade_symbolic_cases(answer, gold, expected):
    assert grade(answer, gold) is expected


@pytest.mark.parametrize(
    ("response", "format_reward", "reward"),
    [
        ("a </think> <answer> 7 </answer>", 1.0, 1.0),
        ("a </think>\n<answer> 7 </answer>", 0.0, 0.0),  # newline instead of the single space
        ("a </think><answer> 7 </answer>", 0.0, 0.0),
        ("a </think> <answer> 7", 0.0, 0.0),  # truncated before </answer>
        ("a </think> <answer> 6 </answer> <answer> 7 </answer>", 1.0, 1.0),  # last answer wins
        ("a </think> <answer> 7 </answer> <answer> 6 </answer>", 1.0, 0.0),
        ("a </think> <answer> 8 </answer>", 1.0, 0.0),  # formatted but wrong: no format bonus
        ("a </think> <answer> \\boxed{7} </answer>", 1.0, 1.0),
        ("a </think> <answer> \\boxed{7 </answer>", 1.0, 0.0),  # unparseable boxed
        ("\\boxed{7}", 0.0, 0.0),
    ],
)
def test_r1_zero_format_rules(response, format_reward, reward):
    out = r1_zero_reward_fn(response, "7")
    assert set(out) == {"format_reward", "answer_reward", "reward"}
    assert out["format_reward"] == format_reward and out["reward"] == reward == out["answer_reward"]


def test_question_only_reward_uses_last_boxed_anywhere():
    assert question_only_reward_fn("so \\boxed{3} no wait \\boxed{4}", "4") == {
        "format_reward": 1.0,
        "answer_reward": 1.0,
        "reward": 1.0,
    }
    assert question_only_reward_fn("the answer is 4", "4")["format_reward"] == 0.0
    assert question_only_reward_fn("\\boxed{5}", "4") == {"format_reward": 1.0, "answer_reward": 0.0, "reward": 0.0}


def test_boxed_extraction_nested_and_gold_boxed():
    assert extract_last_boxed("\\boxed{1} and \\boxed{\\frac{1}{2}}") == "\\frac{1}{2}"
    assert extract_last_boxed("\\boxed 5$") == "5"
    assert extract_last_boxed("none") is None
    assert grade("0.5", "The answer is \\boxed{\\frac{1}{2}}")
    assert normalize_answer("\\left(1,2\\right)") == "(1,2)"


def test_prompts_are_exact():
    r1 = load_prompt("r1_zero")
    assert r1.endswith("User: {question}\nAssistant: <think>") and "</think> <answer>" in r1
    assert load_prompt("question_only") == "{question}"
    p = get_protocol("r1_zero_short")
    assert p.format("What is 1+1?") == "User: What is 1+1?\nAssistant: <think>" and p.stop == ("</answer>",)
    assert get_protocol("question_only").reward_fn is question_only_reward_fn


def test_sympy_worker_times_out_and_recovers():
    worker = SympyWorker(timeout_s=0.5)
    try:
        assert worker.equal("\\sqrt{8}", "2\\sqrt{2}") is True
        t0 = time.perf_counter()
        assert worker.call(time.sleep, 30) is False  # stands in for a simplification that never ends
        assert time.perf_counter() - t0 < 5
        assert worker.num_timeouts == 1
        assert worker.equal("\\sqrt{8}", "2\\sqrt{2}") is True  # a fresh worker took over
    finally:
        worker.close()


def test_slow_grading_uses_math_verify_or_names_the_extra():
    import importlib.util

    from cs336_alignment.errors import AlignmentError

    if importlib.util.find_spec("math_verify") is None:
        with pytest.raises(AlignmentError, match="uv sync --extra math"):
            r1_zero_reward_fn(wrap("7"), "7", fast=False)
    else:
        assert r1_zero_reward_fn(wrap("\\frac{14}{2}"), "7", fast=False)["reward"] == 1.0
