"""MMLU / GSM8K parsers on a table of tricky model outputs (the supplement's §1.12 contracts)."""

import pytest

from cs336_alignment.evals.parsers import parse_gsm8k_response, parse_mmlu_response

EXAMPLE = {
    "subject": "biology",
    "question": "Q?",
    "options": ["Mitosis", "Meiosis", "Osmosis", "Diffusion"],
    "answer": "C",
}


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("The correct answer is C. Because water moves.", "C"),
        ("THE CORRECT ANSWER IS d", "D"),
        ("The correct answer is (A).", "A"),
        ("The correct answer is\nB", "B"),
        ("The correct answer is B) Meiosis", "B"),
        ("The correct answer is A, then again the correct answer is C!", "C"),  # the last statement wins
        ("The correct answer is E.", None),  # not an option letter
        ("The correct answer is Apples.", None),  # a word starting with a letter is not a letter
        ("The correct answer is AB", None),
        ("The correct answer is 3.", None),
        ("The correct answer is: C", None),  # the handout's pattern has no colon
        ("", None),
        ("I believe Osmosis is right.", "C"),  # fallback: exactly one option's text quoted
        ("Mitosis and Meiosis both divide cells.", None),  # two options quoted: ambiguous
        ("Answer: C", None),  # a bare letter without the sentence is not trusted
    ],
)
def test_mmlu_table(output, expected):
    assert parse_mmlu_response(EXAMPLE, output) == expected


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("Natalia sold 48/2 = 24 clips in May, so 48 + 24 = 72 clips.", "72"),
        ("The total is $1,234,567.", "1234567"),
        ("It drops to -15 degrees.", "-15"),
        ("Each costs 0.75 dollars, so 3 cost 2.25.", "2.25"),
        ("She is 18.0 years old.", "18.0"),
        ("The answer is 42.\n\n### Instruction:", "42"),
        ("1,2,3 and then 4", "4"),  # "1,2,3": commas not in thousands groups split the numbers
        ("#### 1,000", "1000"),
        ("no digits here", None),
        ("", None),
        ("+7 more", "7"),
    ],
)
def test_gsm8k_table(output, expected):
    assert parse_gsm8k_response(output) == expected
