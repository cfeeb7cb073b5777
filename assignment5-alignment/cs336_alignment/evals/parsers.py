"""Response parsers of the supplement (§1.12): MMLU letter and GSM8K final number.

python -c "from cs336_alignment.evals.parsers import parse_gsm8k_response as p; print(p('so 1,234.'))"
"""

import re
from typing import Any

MMLU_LETTERS = ("A", "B", "C", "D")
_MMLU_ANSWER = re.compile(r"the correct answer is\s*\(?([ABCD])\)?(?![A-Za-z0-9])", re.IGNORECASE)
_NUMBER = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?")


def parse_mmlu_response(mmlu_example: dict[str, Any], model_output: str) -> str | None:
    """The option letter after "The correct answer is" (last occurrence), else an option quoted verbatim, else None.

    The letter must stand alone ("C." or "(C)" count; "Carbon" does not): "The correct answer is 42 apples" is None.
    """
    matches = _MMLU_ANSWER.findall(model_output)
    if matches:
        return matches[-1].upper()
    options = mmlu_example.get("options") or []
    hits = [
        MMLU_LETTERS[i] for i, opt in enumerate(options[:4]) if str(opt).strip() and str(opt).strip() in model_output
    ]
    return hits[0] if len(hits) == 1 else None


def parse_gsm8k_response(model_output: str) -> str | None:
    """The last number in the text (sign, thousands commas and decimals allowed; commas removed), else None."""
    numbers = _NUMBER.findall(model_output)
    if not numbers:
        return None
    return numbers[-1].replace(",", "").lstrip("+")
