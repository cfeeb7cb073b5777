"""Prompt protocols and reward functions (handout §3.3): r1_zero and question_only.

- `r1_zero`: the prompt ends with `Assistant: <think>`; a response earns format credit only if it contains the
  literal `</think> <answer>` (exactly one space) and `</answer>`. The answer is the text after the *last*
  `<answer>`; if it holds a `\\boxed{}`, the boxed content is graded. reward == answer_reward (no format bonus).
- `question_only`: the prompt is the bare question; the answer is the last `\\boxed{}` anywhere in the response
  (format 1 whenever one exists).
- `r1_zero_short`: the r1_zero protocol without the instruction sentence, to keep tiny-model sequences short;
  the response side (and therefore the reward) is byte-identical to r1_zero.

    python -c "from cs336_alignment.rewards import r1_zero_reward_fn as f; print(f('</think> <answer> 7 </answer>', 7))"
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import resources

from cs336_alignment.errors import ConfigError
from cs336_alignment.grader import extract_last_boxed, grade

FORMAT_OPEN = "</think> <answer>"
ANSWER_OPEN = "<answer>"
ANSWER_CLOSE = "</answer>"
PROMPT_NAMES: tuple[str, ...] = ("r1_zero", "r1_zero_short", "question_only")

RewardFn = Callable[[str, str], dict[str, float]]


def _result(format_reward: float, answer_reward: float) -> dict[str, float]:
    return {"format_reward": format_reward, "answer_reward": answer_reward, "reward": answer_reward}


def r1_zero_reward_fn(response: str, ground_truth: str | int | float | list, fast: bool = True) -> dict[str, float]:
    """Format and answer reward of an r1_zero response. `fast=False` also tries Math-Verify (extra `math`)."""
    if FORMAT_OPEN not in response or ANSWER_CLOSE not in response:
        return _result(0.0, 0.0)
    answer = response.split(ANSWER_OPEN)[-1].replace(ANSWER_CLOSE, "")
    if "\\boxed" in answer:
        boxed = extract_last_boxed(answer)
        if boxed is None:
            return _result(1.0, 0.0)
        answer = boxed
    return _result(1.0, 1.0 if grade(answer, ground_truth, use_math_verify=not fast) else 0.0)


def question_only_reward_fn(
    response: str, ground_truth: str | int | float | list, fast: bool = True
) -> dict[str, float]:
    """Reward of a question_only response: the last `\\boxed{}` in the whole response is the answer."""
    boxed = extract_last_boxed(response)
    if boxed is None:
        return _result(0.0, 0.0)
    return _result(1.0, 1.0 if grade(boxed, ground_truth, use_math_verify=not fast) else 0.0)


@cache
def load_prompt(name: str) -> str:
    """The prompt template `name` (with a `{question}` slot), read from the package's `prompts/` files."""
    if name not in PROMPT_NAMES:
        raise ConfigError(f"unknown prompt {name!r}; expected one of {', '.join(PROMPT_NAMES)}")
    return resources.files("cs336_alignment").joinpath("prompts", f"{name}.prompt").read_text(encoding="utf-8")


@cache
def load_alpaca_template() -> str:
    """The Alpaca instruction template with `{instruction}`/`{response}` slots; the file's final newline is stripped."""
    text = resources.files("cs336_alignment").joinpath("prompts", "alpaca_sft.prompt").read_text(encoding="utf-8")
    return text.removesuffix("\n")


@dataclass(frozen=True)
class PromptProtocol:
    """A prompt template paired with the reward function that grades responses to it."""

    name: str
    template: str
    reward_fn: RewardFn
    stop: tuple[str, ...]

    def format(self, question: str) -> str:
        return self.template.replace("{question}", question)


def get_protocol(name: str) -> PromptProtocol:
    """r1_zero-style prompts stop at `</answer>`; question_only relies on max_tokens / EOS."""
    if name == "question_only":
        return PromptProtocol(name, load_prompt(name), question_only_reward_fn, ())
    return PromptProtocol(name, load_prompt(name), r1_zero_reward_fn, (ANSWER_CLOSE,))
