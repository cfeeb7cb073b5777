"""One record type for every math task, and loaders that turn GSM8K / MATH-style JSONL into it.

A `MathExample` holds the question, the gold answer (a string the grader compares against) and, when the source
has one, an expert trace `response` in the r1_zero response format (`reasoning </think> <answer> N </answer>`).
"""

import json
import re
from dataclasses import dataclass
from pathlib import Path

from cs336_alignment.errors import AlignmentError

_GSM8K_CALC = re.compile(r"<<[^>]*>>")


@dataclass(frozen=True)
class MathExample:
    question: str
    answer: str
    response: str | None = None  # expert trace, response side of the r1_zero protocol
    prompt: str | None = None  # an already formatted prompt (MATH sft.jsonl rows); None = format the question

    def render(self, protocol) -> str:
        return self.prompt if self.prompt is not None else protocol.format(self.question)


def r1_zero_response(reasoning: str, answer: str) -> str:
    """The response side of r1_zero: the prompt already opened `<think>`."""
    return f" {reasoning.strip()} </think> <answer> {answer} </answer>"


def gsm8k_example(row: dict) -> MathExample:
    """GSM8K row -> example: gold = the number after `####` (commas removed); trace = solution without `<<calc>>`."""
    try:
        solution, final = row["answer"].rsplit("####", 1)
    except (KeyError, ValueError) as exc:
        raise AlignmentError(f"GSM8K row lacks an answer ending in '#### N': {str(row)[:120]}") from exc
    answer = final.strip().replace(",", "")
    reasoning = " ".join(_GSM8K_CALC.sub("", solution).split())
    return MathExample(row["question"], answer, r1_zero_response(reasoning, answer))


def read_jsonl(path: str | Path) -> list[dict]:
    """Rows of a JSON-lines file (blank lines skipped); a missing file or a bad line is an AlignmentError."""
    path = Path(path)
    if not path.is_file():
        raise AlignmentError(f"data file not found: {path}")
    rows = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise AlignmentError(f"{path}:{lineno} is not valid JSON: {exc}") from exc
    return rows


def load_examples(
    path: str | Path,
    fmt: str,
    question_key: str = "question",
    answer_key: str = "answer",
    response_key: str = "response",
) -> list[MathExample]:
    """Read `gsm8k` or generic `jsonl` rows (field names configurable: MATH copies differ)."""
    rows = read_jsonl(path)
    if fmt == "gsm8k":
        return [gsm8k_example(r) for r in rows]
    if fmt != "jsonl":
        raise AlignmentError(f"unknown data format {fmt!r} for {path}")
    out = []
    for i, r in enumerate(rows):
        if question_key not in r and "prompt" in r and response_key in r:
            # SFT rows {"prompt", "response"} whose prompt is already formatted; gold answer optional.
            out.append(MathExample(r["prompt"], str(r.get(answer_key, "")), r[response_key], prompt=r["prompt"]))
            continue
        if question_key not in r or answer_key not in r:
            raise AlignmentError(f"{path} row {i} lacks {question_key!r} or {answer_key!r}; keys: {sorted(r)}")
        out.append(MathExample(str(r[question_key]), str(r[answer_key]), r.get(response_key)))
    return out


def save_examples(path: str | Path, examples: list[MathExample]) -> None:
    with Path(path).open("w", encoding="utf-8") as f:
        for ex in examples:
            f.write(json.dumps({"question": ex.question, "answer": ex.answer, "response": ex.response}) + "\n")
