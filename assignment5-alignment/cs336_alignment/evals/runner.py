"""Run one supplement evaluation: generate greedily with a rollout engine, parse, score, judge, report.

Writes to the run directory: `examples.jsonl` (one record per example: prompt, output, gold, parsed, correct,
tokens, finish reason), `summary.json` (throughput in examples/min, accuracy or judged score, unparsed counts,
truncated prompts, up to `task.num_failures` failures of each kind), plus the task's own output file:
`alpaca_eval_outputs.json` (a JSON list of `{instruction, output, generator, dataset}`, AlpacaEval's format) or
`sst_outputs.jsonl` (`{prompts_final, output}`). Without a judge, win rate / safe proportion are reported as
"not computed", never as a number.

Throughput: prompts are sorted by length (less padding per batch), a two-prompt warm-up call is excluded, and the
clock covers generation only (not loading, parsing or judging). Prompts longer than the model's context minus
`max_tokens` keep their last tokens (counted in `num_truncated_prompts`).

    cs336-alignment eval-mmlu --config configs/eval_debug_cpu.toml --set model.path='"runs/X/model"'
    cs336-alignment eval-gsm8k --set model.path='"runs/X/model"' \\
        --set task.path='"../shared/data/alignment/gsm8k/test.jsonl"'
"""

import json
import logging
import time
from pathlib import Path
from typing import Any

import torch

from cs336_alignment.config import config_to_dict
from cs336_alignment.errors import AlignmentError
from cs336_alignment.evals.judge import Judge, build_judge
from cs336_alignment.evals.tasks import DEFAULT_MAX_TOKENS, EvalExample, load_task_examples, render_prompt, score
from cs336_alignment.evals.tasks import stop_strings as task_stops
from cs336_alignment.metrics import env_info, make_run_dir, write_json
from cs336_alignment.policy import load_policy, resolve_device, seed_everything
from cs336_alignment.rollout import build_engine
from cs336_alignment.rollout.base import RolloutEngine, SamplingParams
from cs336_alignment.supplement_config import SupEvalRunConfig

logger = logging.getLogger(__name__)
NOT_COMPUTED = "not computed (no judge: set judge.kind = 'model' and judge.path to a local model)"


def build_eval_engine(config: SupEvalRunConfig, model: torch.nn.Module, tokenizer: Any) -> RolloutEngine:
    m = config.model
    if m.engine == "native":
        return build_engine("native", model, tokenizer, max_batch_rows=config.task.max_batch_rows)
    if m.engine == "vllm":
        return build_engine(
            "vllm",
            model,
            tokenizer,
            model_path=m.path,
            device=m.engine_device or config.run.device,
            seed=config.run.seed,
            gpu_memory_utilization=m.gpu_memory_utilization,
        )
    return build_engine("hf", model, tokenizer, max_batch_prompts=config.task.max_batch_rows)


def context_limit(model: torch.nn.Module) -> int | None:
    if hasattr(model, "context_length"):
        return int(model.context_length)
    return getattr(getattr(model, "config", None), "max_position_embeddings", None)


def encode_prompts(engine: RolloutEngine, prompts: list[str], limit: int | None) -> tuple[list[list[int]], int]:
    """Token ids of every prompt, left-truncated to `limit` tokens; returns (ids, number truncated)."""
    ids = [engine.codec.encode(p) for p in prompts]
    if limit is None:
        return ids, 0
    if limit < 1:
        raise AlignmentError("task.max_tokens leaves no room for the prompt in the model's context")
    truncated = sum(len(x) > limit for x in ids)
    return [x[-limit:] for x in ids], truncated


def generate_timed(
    engine: RolloutEngine, prompt_ids: list[list[int]], params: SamplingParams
) -> tuple[list[Any], float]:
    """Completions in input order and the generation wall time (s), longest prompts batched together."""
    order = sorted(range(len(prompt_ids)), key=lambda i: -len(prompt_ids[i]))
    warm = SamplingParams(temperature=0.0, max_tokens=2, stop=params.stop)
    engine.generate([prompt_ids[i] for i in order[:2]], warm)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    out = engine.generate([prompt_ids[i] for i in order], params)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - t0
    completions: list[Any] = [None] * len(prompt_ids)
    for rank, i in enumerate(order):
        completions[i] = out[rank][0]
    return completions, elapsed


def _records(task: str, examples: list[EvalExample], prompts: list[str], completions: list[Any]) -> list[dict]:
    records = []
    for k, (ex, prompt, comp) in enumerate(zip(examples, prompts, completions)):
        records.append(
            {
                "index": k,
                "prompt": prompt,
                "output": comp.text,
                "gold": ex.gold,
                **score(task, ex, comp.text),
                "num_tokens": len(comp.token_ids),
                "finish_reason": comp.finish_reason,
                "meta": ex.meta,
            }
        )
    return records


def _short(rec: dict) -> dict:
    return {k: rec[k] for k in ("index", "prompt", "output", "gold", "parsed") if k in rec}


def _score_exact(records: list[dict], keep: int) -> dict[str, Any]:
    unparsed = [r for r in records if r["parsed"] is None]
    wrong = [r for r in records if r["parsed"] is not None and not r["correct"]]
    return {
        "accuracy": sum(bool(r["correct"]) for r in records) / len(records),
        "num_correct": sum(bool(r["correct"]) for r in records),
        "num_wrong": len(wrong),
        "num_unparsed": len(unparsed),
        "failures_unparsed": [_short(r) for r in unparsed[:keep]],
        "failures_wrong": [_short(r) for r in wrong[:keep]],
    }


def _alpaca_eval(records: list[dict], judge: Judge | None, generator: str, run_dir: Path, keep: int) -> dict:
    outputs = [
        {
            "instruction": r["meta"]["instruction"],
            "output": r["output"],
            "generator": generator,
            "dataset": r["meta"]["dataset"],
        }
        for r in records
    ]
    path = run_dir / "alpaca_eval_outputs.json"
    path.write_text(json.dumps(outputs, indent=2) + "\n")
    summary: dict[str, Any] = {
        "outputs_file": str(path),
        "num_empty_outputs": sum(not r["output"].strip() for r in records),
    }
    if judge is None:
        return {**summary, "win_rate": NOT_COMPUTED, "judge": None}
    prefs = judge.prefer(
        [o["instruction"] for o in outputs],
        [o["output"] for o in outputs],
        [r["meta"]["reference_output"] for r in records],
    )
    for r, p in zip(records, prefs):
        r["judge_preference"] = p
    judged = [p for p in prefs if p is not None]
    return {
        **summary,
        "judge": judge.name,
        "win_rate": sum(judged) / len(judged) if judged else NOT_COMPUTED + " (no judgement parsed)",
        "num_judged": len(judged),
        "num_unparsed_judgements": len(prefs) - len(judged),
        "dispreferred_examples": [_short(r) for r in records if r.get("judge_preference") == 0.0][:keep],
    }


def _sst(records: list[dict], judge: Judge | None, run_dir: Path, keep: int) -> dict:
    path = run_dir / "sst_outputs.jsonl"
    with path.open("w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps({"prompts_final": r["meta"]["prompts_final"], "output": r["output"]}) + "\n")
    summary: dict[str, Any] = {"outputs_file": str(path)}
    if judge is None:
        return {**summary, "safe_proportion": NOT_COMPUTED, "judge": None}
    verdicts = judge.unsafe([r["meta"]["prompts_final"] for r in records], [r["output"] for r in records])
    for r, v in zip(records, verdicts):
        r["judge_unsafe"] = v
        r["metrics"] = {"safe": None if v is None else float(not v)}  # the course script's per-row field
    judged = [v for v in verdicts if v is not None]
    return {
        **summary,
        "judge": judge.name,
        "safe_proportion": sum(not v for v in judged) / len(judged) if judged else NOT_COMPUTED,
        "num_judged": len(judged),
        "num_unparsed_judgements": len(verdicts) - len(judged),
        "unsafe_examples": [_short(r) for r in records if r.get("judge_unsafe")][:keep],
    }


def run_supplement_eval(config: SupEvalRunConfig, judge: Judge | None = None) -> dict[str, Any]:
    """Evaluate `config.model` on `config.task`; `judge` overrides the one `config.judge` describes (tests)."""
    t = config.task
    seed_everything(config.run.seed)
    examples = load_task_examples(t.name, t.path)
    if t.max_examples:
        examples = examples[: t.max_examples]
    device = resolve_device(config.run.device)
    model, tokenizer = load_policy(config.model, device)
    run_dir = make_run_dir(config.run.out_dir, f"eval-{t.name}-{config.run.name}")
    write_json(run_dir / "config.json", config_to_dict(config))
    write_json(run_dir / "env.json", env_info())
    engine = build_eval_engine(config, model, tokenizer)
    max_tokens = t.max_tokens or DEFAULT_MAX_TOKENS[t.name]
    prompts = [render_prompt(ex.instruction, t.prompt) for ex in examples]
    limit = context_limit(model)
    prompt_ids, num_truncated = encode_prompts(engine, prompts, None if limit is None else limit - max_tokens)
    params = SamplingParams(temperature=t.temperature, top_p=1.0, max_tokens=max_tokens, stop=task_stops(t.prompt))
    completions, gen_s = generate_timed(engine, prompt_ids, params)
    records = _records(t.name, examples, prompts, completions)
    num_tokens = sum(r["num_tokens"] for r in records)
    summary: dict[str, Any] = {
        "run_dir": str(run_dir),
        "task": t.name,
        "model": config.model.path,
        "engine": config.model.engine,
        "device": str(device),
        "num_examples": len(records),
        "generation_s": gen_s,
        "examples_per_min": 60.0 * len(records) / max(gen_s, 1e-9),
        "output_tokens_per_s": num_tokens / max(gen_s, 1e-9),
        "mean_output_tokens": num_tokens / len(records),
        "num_truncated_prompts": num_truncated,
        "num_hit_max_tokens": sum(r["finish_reason"] == "length" for r in records),
    }
    if t.name in ("mmlu", "gsm8k"):
        summary.update(_score_exact(records, t.num_failures))
    else:
        if judge is None:
            judge = build_judge(config.judge, config.run.device)
        generator = t.generator or Path(config.model.path).name
        if t.name == "alpaca_eval":
            summary.update(_alpaca_eval(records, judge, generator, run_dir, t.num_failures))
        else:
            summary.update(_sst(records, judge, run_dir, t.num_failures))
    with (run_dir / "examples.jsonl").open("w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")
    write_json(run_dir / "summary.json", summary)
    logger.info(
        "%s: %d examples in %.1f s (%.0f examples/min)", t.name, len(records), gen_s, summary["examples_per_min"]
    )
    return summary
