"""Math evaluation (handout problem math_baseline): generate, grade, report the three format/answer categories and
write one JSON line per example.

Categories: correct (format 1, answer 1), formatted but wrong (format 1, answer 0), unformatted (format 0).

    cs336-alignment eval --config configs/debug_cpu.toml --set model.path='"runs/<run>/model"'
    cs336-alignment eval --config configs/qwen2.5_math_1.5b_eval_h100.toml   # GPU, with the weights
"""

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cs336_alignment.data import MathExample
from cs336_alignment.rewards import PromptProtocol
from cs336_alignment.rollout.base import RolloutEngine, SamplingParams
from cs336_alignment.sft_utils import log_generations

logger = logging.getLogger(__name__)


@dataclass
class EvalResult:
    metrics: dict[str, float]
    records: list[dict[str, Any]]

    def write_jsonl(self, path: Path) -> None:
        with path.open("w", encoding="utf-8") as f:
            for rec in self.records:
                f.write(json.dumps(rec) + "\n")


def evaluate_policy(
    engine: RolloutEngine,
    examples: list[MathExample],
    protocol: PromptProtocol,
    params: SamplingParams,
    prefix: str = "eval/",
) -> EvalResult:
    """Sample one response per example, grade it with the protocol's reward function, summarise."""
    prompts = [ex.render(protocol) for ex in examples]
    t0 = time.perf_counter()
    outputs = engine.generate(prompts, params)
    gen_s = time.perf_counter() - t0
    records = []
    for ex, prompt, comps in zip(examples, prompts, outputs):
        comp = comps[0]
        reward = protocol.reward_fn(comp.text, ex.answer)
        records.append(
            {
                "question": ex.question,
                "prompt": prompt,
                "response": comp.text,
                "ground_truth": ex.answer,
                "num_tokens": len(comp.token_ids),
                "finish_reason": comp.finish_reason,
                **reward,
            }
        )
    n = max(1, len(records))
    num_tokens = sum(r["num_tokens"] for r in records)
    summary = log_generations(
        [r["prompt"] for r in records],
        [r["response"] for r in records],
        [r["ground_truth"] for r in records],
        [{k: r[k] for k in ("format_reward", "answer_reward", "reward")} for r in records],
        [r["num_tokens"] for r in records],
    )["summary"]
    metrics = {
        f"{prefix}answer_accuracy": sum(r["answer_reward"] for r in records) / n,
        f"{prefix}format_accuracy": sum(r["format_reward"] for r in records) / n,
        f"{prefix}num_correct": sum(1 for r in records if r["format_reward"] and r["answer_reward"]),
        f"{prefix}num_format_wrong_answer": sum(1 for r in records if r["format_reward"] and not r["answer_reward"]),
        f"{prefix}num_unformatted": sum(1 for r in records if not r["format_reward"]),
        f"{prefix}num_examples": len(records),
        f"{prefix}mean_response_tokens": num_tokens / n,
        f"{prefix}truncated_fraction": sum(r["finish_reason"] == "length" for r in records) / n,
        f"{prefix}rollout_tokens_per_s": num_tokens / max(gen_s, 1e-9),
        f"{prefix}generation_s": gen_s,
    }
    for key in ("correct", "incorrect"):  # undefined (NaN) when a side is empty: leave the key out
        value = summary[f"mean_length_{key}"]
        if value == value:
            metrics[f"{prefix}mean_response_tokens_{key}"] = value
    return EvalResult(metrics, records)


def category_examples(records: list[dict[str, Any]], per_category: int = 10) -> dict[str, list[dict[str, Any]]]:
    """Up to `per_category` examples of each category, for the failure analysis the handout asks for."""
    cats: dict[str, list[dict[str, Any]]] = {"correct": [], "format_wrong_answer": [], "unformatted": []}
    for r in records:
        key = "unformatted" if not r["format_reward"] else ("correct" if r["answer_reward"] else "format_wrong_answer")
        if len(cats[key]) < per_category:
            cats[key].append(r)
    return cats
