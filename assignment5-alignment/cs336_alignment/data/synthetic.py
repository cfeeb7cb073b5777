"""ArithWord: procedurally generated GSM8K-like word problems with exact integer answers (spec §4.4).

A problem is a chain of 1..k steps on one quantity (buy, find, give away, eat, boxes of n each), with integers up
to `max_value`; every intermediate value stays non-negative. The expert trace is the explicit equations, so an
SFT target exists for every problem:

    Q: Mia has 12 shells. She finds 7 more shells. Then she gives 5 shells to Leo. How many shells does Mia have now?
    A: 12 + 7 = 19. 19 - 5 = 14. </think> <answer> 14 </answer>

Difficulty knobs: number of steps and value range. Splits are made from disjoint seeds and de-duplicated against
each other. `pretrain_documents` renders problems in assorted answer formats (`Answer: N`, `#### N`, `\\boxed{N}`,
and chat transcripts that open like the r1_zero prompt, reason inside `<think>`, and close in one of several ways,
the r1_zero `<answer> N </answer>` among them), some with wrong answers: a stand-in for a math-pretrained base
model, so zero-shot r1_zero rewards start low but non-zero.

    python -m cs336_alignment.data.synthetic   # prints a few problems
"""

import functools
import random
from dataclasses import dataclass

from cs336_alignment.data.examples import MathExample, r1_zero_response

NAMES = ("Mia", "Leo", "Ava", "Sam", "Zoe", "Max", "Ivy", "Ben", "Eva", "Tom", "Ana", "Raj", "Kim", "Lea", "Noah")
ITEMS = ("apples", "coins", "shells", "stickers", "marbles", "books", "cards", "pens", "stones", "cookies")
PRONOUNS = ("She", "He")
PRETRAIN_FORMATS = ("answer_line", "hashes", "boxed", "chat")
PRETRAIN_FORMAT_WEIGHTS = (0.25, 0.25, 0.2, 0.3)
# How a "chat" document (the r1_zero prompt, then the reasoning and `</think>`) ends: only the first closing is the
# r1_zero answer format, so a base model continues a r1_zero prompt with `<answer> N </answer>` about this often.
CHAT_CLOSINGS = ("<answer> {} </answer>", "The answer is {}.", "Answer: {}", "So the answer is \\boxed{{{}}}.")
CHAT_CLOSING_WEIGHTS = (0.2, 0.4, 0.2, 0.2)


@dataclass(frozen=True, kw_only=True)
class ArithWordSpec:
    min_steps: int = 1
    max_steps: int = 3
    max_value: int = 50
    mul_max: int = 5  # factors of the "boxes of n each" step


def _step(rng: random.Random, value: int, spec: ArithWordSpec, name: str, pron: str, item: str, other: str):
    """One story step: (sentence, equation, new value)."""
    kind = rng.choice(("add", "add", "sub", "sub", "mul"))
    if kind == "sub" and value > 1:
        x = rng.randint(1, value - 1)
        verb = rng.choice((f"gives {x} {item} to {other}", f"loses {x} {item}", f"uses {x} {item}"))
        return f"{pron} {verb}.", f"{value} - {x} = {value - x}", value - x
    if kind == "mul":
        boxes, each = rng.randint(2, spec.mul_max), rng.randint(2, spec.mul_max)
        prod = boxes * each
        sentence = f"{pron} gets {boxes} boxes with {each} {item} in each box."
        return sentence, f"{boxes} * {each} = {prod}. {value} + {prod} = {value + prod}", value + prod
    x = rng.randint(1, spec.max_value)
    verb = rng.choice((f"buys {x} more {item}", f"finds {x} more {item}", f"gets {x} {item} from {other}"))
    return f"{pron} {verb}.", f"{value} + {x} = {value + x}", value + x


def make_problem(rng: random.Random, spec: ArithWordSpec) -> MathExample:
    name, other = rng.sample(NAMES, 2)
    pron, item = rng.choice(PRONOUNS), rng.choice(ITEMS)
    value = rng.randint(2, spec.max_value)
    sentences, equations = [f"{name} has {value} {item}."], []
    for i in range(rng.randint(spec.min_steps, spec.max_steps)):
        sentence, equation, value = _step(rng, value, spec, name, pron, item, other)
        sentences.append(("Then " + sentence[0].lower() + sentence[1:]) if i > 0 else sentence)
        equations.append(equation)
    question = " ".join(sentences) + f" How many {item} does {name} have now?"
    reasoning = ". ".join(equations) + "."
    return MathExample(question, str(value), r1_zero_response(reasoning, str(value)))


def generate_split(num: int, seed: int, spec: ArithWordSpec, exclude: set[str] | None = None) -> list[MathExample]:
    """`num` distinct problems from `seed`, skipping questions in `exclude` (another split)."""
    rng = random.Random(seed)
    seen = set(exclude or ())
    out: list[MathExample] = []
    attempts = 0
    while len(out) < num:
        attempts += 1
        if attempts > 50 * num + 1000:
            raise RuntimeError(f"could not draw {num} distinct problems; widen the spec")
        ex = make_problem(rng, spec)
        if ex.question not in seen:
            seen.add(ex.question)
            out.append(ex)
    return out


def make_splits(
    num_train: int, num_val: int, seed: int, spec: ArithWordSpec
) -> tuple[list[MathExample], list[MathExample]]:
    """Train and validation splits from disjoint seeds, with no question in both (fresh lists on every call)."""
    train, val = _cached_splits(num_train, num_val, seed, spec)
    return list(train), list(val)


@functools.lru_cache(maxsize=4)
def _cached_splits(num_train: int, num_val: int, seed: int, spec: ArithWordSpec):
    # Every stage of a pipeline run asks for the same splits; generating 10^5 problems takes seconds.
    val = generate_split(num_val, seed * 1000 + 1, spec)
    train = generate_split(num_train, seed * 1000 + 2, spec, exclude={e.question for e in val})
    return tuple(train), tuple(val)


def pretrain_documents(examples: list[MathExample], seed: int, wrong_fraction: float = 0.1) -> list[str]:
    """Problems followed by answers in assorted formats: the synthetic "math-pretrained base" corpus."""
    rng = random.Random(seed)
    docs = []
    for ex in examples:
        answer = ex.answer
        if rng.random() < wrong_fraction:
            answer = str(int(answer) + rng.choice((-2, -1, 1, 2)))
        reasoning = ex.response.split("</think>")[0].strip() if ex.response else ""
        fmt = rng.choices(PRETRAIN_FORMATS, weights=PRETRAIN_FORMAT_WEIGHTS)[0]
        if fmt == "answer_line":
            docs.append(f"Question: {ex.question}\n{reasoning}\nAnswer: {answer}")
        elif fmt == "hashes":
            docs.append(f"{ex.question}\n{reasoning}\n#### {answer}")
        elif fmt == "boxed":
            docs.append(f"Problem: {ex.question}\nSolution: {reasoning} The answer is \\boxed{{{answer}}}.")
        else:
            closing = rng.choices(CHAT_CLOSINGS, weights=CHAT_CLOSING_WEIGHTS)[0].format(answer)
            docs.append(f"User: {ex.question}\nAssistant: <think> {reasoning} </think> {closing}")
    return docs


if __name__ == "__main__":
    for example in generate_split(3, 0, ArithWordSpec()):
        print(example.question, "\n ->", example.response, "\n")
