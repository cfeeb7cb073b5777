"""The supplement's four evaluation tasks: loaders, instructions, prompt wrapping and per-example scoring.

- MMLU: CSVs without a header (`question, A, B, C, D, answer`), subject from the file name
  (`<subject>_<split>.csv`); instruction per the supplement (one sentence "The correct answer is _").
- GSM8K: `{question, answer "... #### N"}` rows; instruction `{question}\\nAnswer:`; numeric comparison.
- AlpacaEval: `{instruction, output, generator, dataset}` rows (`output` is the reference answer).
- SimpleSafetyTests: CSV with `prompts_final`.

Prompts: `alpaca` wraps the instruction in the Alpaca template (what our instruction-tuned models saw; generation
ends at EOS) and `zero_shot` in the supplement's system prompt (base models; generation stops at `# Query:`).

    python -c "from cs336_alignment.evals.tasks import load_task_examples as f; print(f('gsm8k', 'x.jsonl')[:1])"
"""

import csv
import math
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from cs336_alignment.data.examples import read_jsonl
from cs336_alignment.errors import AlignmentError
from cs336_alignment.evals.parsers import parse_gsm8k_response, parse_mmlu_response
from cs336_alignment.instruct.packed import format_alpaca

DEFAULT_MAX_TOKENS = {"mmlu": 32, "gsm8k": 256, "alpaca_eval": 256, "sst": 256}
ZERO_SHOT_STOP = "# Query:"
MMLU_INSTRUCTION = (
    "Answer the following multiple choice question about {subject}. Respond with a single sentence of the form "
    '"The correct answer is _", filling the blank with the letter corresponding to the correct answer (i.e., A, B, '
    "C or D).\n\nQuestion: {question}\nA. {a}\nB. {b}\nC. {c}\nD. {d}\nAnswer:"
)


@dataclass(frozen=True)
class EvalExample:
    instruction: str  # what goes into the prompt template
    gold: str | None  # letter (MMLU), number (GSM8K), None for the judged tasks
    meta: dict[str, Any] = field(default_factory=dict)  # the source row's fields kept in the per-example JSONL


@cache
def load_system_prompt() -> str:
    text = resources.files("cs336_alignment").joinpath("prompts", "zero_shot_system_prompt.prompt").read_text()
    return text.removesuffix("\n")


def render_prompt(instruction: str, style: str) -> str:
    if style == "alpaca":
        return format_alpaca(instruction, "")
    return load_system_prompt().replace("{instruction}", instruction)


def stop_strings(style: str) -> tuple[str, ...]:
    return (ZERO_SHOT_STOP,) if style == "zero_shot" else ()


def _mmlu_files(path: Path) -> list[Path]:
    files = sorted(path.glob("*.csv")) if path.is_dir() else [path]
    if not files and path.is_dir():
        files = sorted(path.glob("*/*.csv"))  # the parent of dev/ val/ test/
    if not files:
        raise AlignmentError(f"no MMLU CSV files under {path}")
    return files


def _mmlu_subject(file: Path) -> str:
    stem = file.stem
    for split in ("_dev", "_val", "_test"):
        stem = stem.removesuffix(split)
    return stem.replace("_", " ")


def load_mmlu(path: Path) -> list[EvalExample]:
    out = []
    for file in _mmlu_files(path):
        subject = _mmlu_subject(file)
        with file.open(newline="", encoding="utf-8") as f:
            for lineno, row in enumerate(csv.reader(f), 1):
                if len(row) != 6 or row[5].strip() not in "ABCD" or not row[5].strip():
                    raise AlignmentError(f"{file}:{lineno}: expected question,A,B,C,D,answer; got {row[:6]}")
                question, options, answer = row[0], row[1:5], row[5].strip()
                example = {"subject": subject, "question": question, "options": options, "answer": answer}
                text = MMLU_INSTRUCTION.format(
                    subject=subject, question=question, a=row[1], b=row[2], c=row[3], d=row[4]
                )
                out.append(EvalExample(text, answer, example))
    return out


def gsm8k_gold(answer: str) -> str:
    if "####" not in answer:
        raise AlignmentError(f"GSM8K answer lacks '#### N': {answer[-80:]!r}")
    return answer.rsplit("####", 1)[1].strip().replace(",", "")


def load_gsm8k(path: Path) -> list[EvalExample]:
    out = []
    for i, r in enumerate(read_jsonl(path)):
        if "question" not in r or "answer" not in r:
            raise AlignmentError(f"{path} row {i} needs 'question' and 'answer'; keys: {sorted(r)}")
        out.append(EvalExample(f"{r['question']}\nAnswer:", gsm8k_gold(r["answer"]), {"question": r["question"]}))
    return out


def load_alpaca_eval(path: Path) -> list[EvalExample]:
    out = []
    for i, r in enumerate(read_jsonl(path)):
        if "instruction" not in r:
            raise AlignmentError(f"{path} row {i} needs 'instruction'; keys: {sorted(r)}")
        meta = {
            "instruction": r["instruction"],
            "reference_output": r.get("output", ""),
            "reference_generator": r.get("generator", ""),
            "dataset": r.get("dataset", ""),
        }
        out.append(EvalExample(r["instruction"], None, meta))
    return out


def load_sst(path: Path) -> list[EvalExample]:
    if not path.is_file():
        raise AlignmentError(f"data file not found: {path}")
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if rows and "prompts_final" not in rows[0]:
        raise AlignmentError(f"{path} needs a prompts_final column; columns: {sorted(rows[0])}")
    return [EvalExample(r["prompts_final"], None, dict(r)) for r in rows]


LOADERS = {"mmlu": load_mmlu, "gsm8k": load_gsm8k, "alpaca_eval": load_alpaca_eval, "sst": load_sst}


def load_task_examples(task: str, path: str | Path) -> list[EvalExample]:
    path = Path(path)
    if not path.exists():
        raise AlignmentError(f"{task} data not found: {path}")
    examples = LOADERS[task](path)
    if not examples:
        raise AlignmentError(f"{path} holds no {task} examples")
    return examples


def _same_number(pred: str, gold: str) -> bool:
    try:
        a, b = float(pred), float(gold)
    except ValueError:
        return False
    return math.isclose(a, b, rel_tol=0.0, abs_tol=1e-9)


def score(task: str, example: EvalExample, output: str) -> dict[str, Any]:
    """Per-example fields: `parsed` and `correct` (None for the judged tasks, which the judge scores)."""
    if task == "mmlu":
        parsed = parse_mmlu_response(example.meta, output)
        return {"parsed": parsed, "correct": parsed == example.gold if parsed is not None else False}
    if task == "gsm8k":
        parsed = parse_gsm8k_response(output)
        return {"parsed": parsed, "correct": parsed is not None and _same_number(parsed, example.gold or "")}
    return {"parsed": output.strip() or None, "correct": None}
