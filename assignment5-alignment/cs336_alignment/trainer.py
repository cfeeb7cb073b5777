"""What the SFT, expert-iteration and GRPO loops share: run set-up, the SFT optimizer step, evaluation hooks.

`start_run` creates the run directory (config.json and env.json before step 0), loads the policy, its engine and
the task data. `sft_update` is one optimizer step of SFT on (prompt ids, response ids) pairs (handout Alg. 1),
used by the SFT command and inside expert iteration.
"""

import json
import logging
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from cs336_alignment.config import OptimConfig, SFTConfig, config_to_dict
from cs336_alignment.data import MathExample, load_task
from cs336_alignment.errors import AlignmentError
from cs336_alignment.evaluate import EvalResult, evaluate_policy
from cs336_alignment.metrics import MetricsLogger, env_info, make_run_dir, write_json
from cs336_alignment.policy import (
    load_checkpoint,
    load_policy,
    lr_at,
    make_optimizer,
    resolve_device,
    save_checkpoint,
    save_policy,
    seed_everything,
)
from cs336_alignment.rewards import PromptProtocol, get_protocol
from cs336_alignment.rollout import build_engine
from cs336_alignment.rollout.base import RolloutEngine, SamplingParams
from cs336_alignment.sft_utils import get_response_log_probs, masked_mean, pack_prompt_and_output_ids
from cs336_alignment.sft_utils import sft_microbatch_train_step as _sft_micro

logger = logging.getLogger(__name__)

Pair = tuple[list[int], list[int]]  # (prompt ids, response ids)


@dataclass
class Run:
    """Everything a training loop needs, built once from its config."""

    config: Any
    run_dir: Path
    device: torch.device
    model: torch.nn.Module
    tokenizer: Any
    engine: RolloutEngine
    protocol: PromptProtocol
    train: list[MathExample]
    val: list[MathExample]
    metrics: MetricsLogger
    optimizer: torch.optim.Optimizer | None = None
    step: int = 0
    started: float = field(default_factory=time.perf_counter)

    @property
    def pad_id(self) -> int:
        return self.engine.codec.pad_id

    def out_of_time(self) -> bool:
        budget = self.config.run.time_budget_s
        return bool(budget) and time.perf_counter() - self.started > budget


def _engine(config: Any, model: torch.nn.Module, tokenizer: Any, run_dir: Path) -> RolloutEngine:
    m = config.model
    kwargs: dict[str, Any] = {}
    if m.engine == "native":
        kwargs["max_batch_rows"] = config.sampling.max_batch_rows
    if m.engine == "vllm":
        kwargs.update(model_path=m.path, device=m.engine_device or "cuda:1", seed=config.run.seed)
        kwargs["gpu_memory_utilization"] = m.gpu_memory_utilization
        return build_engine("vllm", model, tokenizer, **kwargs)
    engine_model = model
    if m.engine_device:  # a replica on another device, refreshed by sync_weights before each rollout phase
        import copy

        engine_model = copy.deepcopy(model).to(m.engine_device)
    return build_engine(m.engine, engine_model, tokenizer, **kwargs)


def start_run(config: Any, kind: str, *, with_optimizer: bool = True) -> Run:
    seed_everything(config.run.seed)
    device = resolve_device(config.run.device)
    # Load (and so validate) model and data before creating the run directory: a bad path leaves nothing behind.
    model, tokenizer = load_policy(config.model, device)
    train, val = load_task(config.data)
    run_dir = make_run_dir(config.run.out_dir, f"{kind}-{config.run.name}")
    write_json(run_dir / "config.json", config_to_dict(config))
    write_json(run_dir / "env.json", env_info())
    run = Run(
        config=config,
        run_dir=run_dir,
        device=device,
        model=model,
        tokenizer=tokenizer,
        engine=_engine(config, model, tokenizer, run_dir),
        protocol=get_protocol(config.data.prompt),
        train=train,
        val=val,
        metrics=MetricsLogger.for_run(
            run_dir, config.run.log_every, config.run.wandb, config.run.wandb_project, config_to_dict(config)
        ),
    )
    if with_optimizer:
        run.optimizer = make_optimizer(model, config.optim)
        if config.run.resume:
            run.step, _ = load_checkpoint(config.run.resume, model, run.optimizer)
            logger.info("resumed from %s at step %d", config.run.resume, run.step)
    logger.info("run directory %s (%d train / %d val examples, device %s)", run_dir, len(train), len(val), device)
    return run


def eval_params(config: Any, protocol: PromptProtocol) -> SamplingParams:
    s = config.sampling
    return SamplingParams(
        temperature=s.eval_temperature,
        top_p=s.top_p,
        max_tokens=s.eval_max_tokens,
        min_tokens=0,
        stop=protocol.stop,
        seed=config.run.seed,
    )


def rollout_params(config: Any, protocol: PromptProtocol, n: int, seed: int) -> SamplingParams:
    s = config.sampling
    return SamplingParams(
        temperature=s.temperature,
        top_p=s.top_p,
        max_tokens=s.max_tokens,
        min_tokens=s.min_tokens,
        n=n,
        stop=protocol.stop,
        seed=seed,
    )


def run_eval(run: Run) -> EvalResult:
    """Evaluate on the validation split, log eval/* metrics, append example rollouts to samples.jsonl."""
    if not run.val:
        raise AlignmentError("no validation examples: set data.val_path or use the synthetic task")
    run.engine.sync_weights(run.model)
    result = evaluate_policy(run.engine, run.val, run.protocol, eval_params(run.config, run.protocol))
    run.metrics.log(result.metrics, run.step)
    with (run.run_dir / "samples.jsonl").open("a", encoding="utf-8") as f:
        for rec in result.records[: run.config.run.num_example_rollouts]:
            f.write(json.dumps({"step": run.step, **rec}) + "\n")
    return result


def maybe_checkpoint(run: Run, final: bool = False) -> None:
    every = run.config.run.ckpt_every
    if run.optimizer is not None and (final or (every and run.step % every == 0)):
        save_checkpoint(
            run.run_dir / "ckpt" / f"step_{run.step}.pt",
            run.model,
            run.optimizer,
            run.step,
            config_to_dict(run.config),
            {},
        )


def finish_run(run: Run, summary: dict[str, Any]) -> dict[str, Any]:
    maybe_checkpoint(run, final=True)
    save_policy(run.model, run.tokenizer, run.run_dir / "model")
    summary = {"run_dir": str(run.run_dir), "step": run.step, "wall_s": time.perf_counter() - run.started, **summary}
    write_json(run.run_dir / "summary.json", summary)
    run.metrics.close()
    return summary


def max_sequence_length(model: torch.nn.Module) -> int | None:
    """The longest sequence the policy accepts (A1: context_length; HF: max_position_embeddings)."""
    if hasattr(model, "context_length"):
        return int(model.context_length)
    return getattr(getattr(model, "config", None), "max_position_embeddings", None)


def fit_pairs(run: Run, pairs: list[Pair]) -> list[Pair]:
    """Drop pairs longer than the policy's context (counted in data/dropped_too_long)."""
    limit = max_sequence_length(run.model)
    if limit is None:
        return pairs
    kept = [(p, r) for p, r in pairs if len(p) + len(r) - 1 <= limit]
    if len(kept) < len(pairs):
        run.metrics.log({"data/dropped_too_long": len(pairs) - len(kept)}, run.step)
    return kept


def encode_pairs(run: Run, examples: list[MathExample]) -> list[Pair]:
    codec = run.engine.codec
    prompts = codec.encode_batch([ex.render(run.protocol) for ex in examples])
    responses = codec.encode_batch([ex.response or "" for ex in examples])
    return fit_pairs(run, list(zip(prompts, responses)))


def sft_update(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    batch: list[Pair],
    sft: SFTConfig,
    optim: OptimConfig,
    step: int,
    device: torch.device,
    pad_id: int,
) -> dict[str, float]:
    """One optimizer step of SFT over `batch`, split into micro-batches (handout Alg. 1 with accumulation).

    token_mean: each micro-batch's summed NLL is divided by its mean response length, i.e. a per-token mean within
    the micro-batch; sequence_sum: by `sft.normalize_constant` (the handout's function as is).
    """
    model.train()
    k = max(1, -(-len(batch) // sft.micro_batch_size))
    totals = {"loss": 0.0, "entropy": 0.0, "tokens": 0}
    for start in range(0, len(batch), sft.micro_batch_size):
        micro = batch[start : start + sft.micro_batch_size]
        packed = pack_prompt_and_output_ids([p for p, _ in micro], [r for _, r in micro], pad_id)
        input_ids, labels = packed["input_ids"].to(device), packed["labels"].to(device)
        mask = packed["response_mask"].to(device)
        out = get_response_log_probs(model, input_ids, labels, return_token_entropy=True)
        num_tokens = int(mask.sum())
        if sft.loss_normalization == "token_mean":
            constant = max(num_tokens, 1) / len(micro)
        else:
            constant = sft.normalize_constant
        loss, _ = _sft_micro(out["log_probs"], mask, k, constant)
        totals["loss"] += float(loss)
        totals["entropy"] += float(masked_mean(out["token_entropy"], mask)) * num_tokens
        totals["tokens"] += num_tokens
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), optim.grad_clip)
    for group in optimizer.param_groups:
        group["lr"] = lr_at(step, optim)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return {
        "train/loss": totals["loss"],
        "train/grad_norm": float(grad_norm),
        "train/token_entropy": totals["entropy"] / max(totals["tokens"], 1),
        "train/response_tokens": totals["tokens"],
        "train/lr": lr_at(step, optim),
    }


def sft_epochs(
    run: Run, pairs: list[Pair], num_epochs: int, max_steps: int = 0, eval_every: int = 0, skip_batches: int = 0
) -> int:
    """Run SFT over `pairs` for `num_epochs` (shuffled each epoch); returns the number of optimizer steps taken.

    `skip_batches` fast-forwards the data order (a resumed SFT run continues where its checkpoint stopped); the
    shuffle is seeded from the step the call starts at, so pass the same start when resuming.
    """
    cfg = run.config
    rng = random.Random(cfg.run.seed + run.step - skip_batches)
    taken = 0
    for _ in range(num_epochs):
        order = list(range(len(pairs)))
        rng.shuffle(order)
        for start in range(0, len(order), cfg.sft.train_batch_size):
            if skip_batches:
                skip_batches -= 1
                taken += 1
                continue
            batch = [pairs[i] for i in order[start : start + cfg.sft.train_batch_size]]
            t0 = time.perf_counter()
            metrics = sft_update(run.model, run.optimizer, batch, cfg.sft, cfg.optim, run.step, run.device, run.pad_id)
            train_tokens = sum(len(p) + len(r) for p, r in batch)
            metrics["perf/train_tokens_per_s"] = train_tokens / max(time.perf_counter() - t0, 1e-9)
            run.step += 1
            taken += 1
            run.metrics.log(metrics, run.step)
            reached = False
            if eval_every and run.step % eval_every == 0:
                accuracy = run_eval(run).metrics["eval/answer_accuracy"]
                target = cfg.sft.stop_at_answer_accuracy
                reached = bool(target) and accuracy >= target
                if reached:
                    logger.info("validation answer accuracy %.3f >= %.3f: SFT stops", accuracy, target)
                    run.metrics.log({"train/sft_stopped_at_target": 1}, run.step)
            maybe_checkpoint(run)
            if reached or (max_steps and taken >= max_steps) or run.out_of_time():
                return taken
    return taken
