"""DPO training (supplement problem dpo_training): frozen reference, cached reference log-probs, validation
preference accuracy and implicit-reward margin, best checkpoint kept.

Per pair, x ⊕ y is the Alpaca template + EOS (as `dpo.per_instance_dpo_loss`); log π(y|x) sums the next-token
log-probs of the response tokens (positions after the prompt; the prompt terms would cancel anyway), so batched
scoring with right padding gives the per-instance loss exactly. loss = -log σ(β[(log π - log π_ref)(y_w) -
(log π - log π_ref)(y_l)]), averaged over the `micro_batch_pairs` x `gradient_accumulation_steps` pairs of one
optimizer step.

Memory: with `dpo.precompute_reference` (default) the reference scores every train/val pair once, the scores are
saved to `reference_logps.pt` (reusable through `dpo.reference_cache`) and the reference is freed before training,
so only the policy and its optimizer state stay on the GPU; otherwise the frozen reference stays loaded (on
`dpo.reference_device`, e.g. a second GPU as in the handout) and scores each micro-batch under no_grad.

Validation: `eval/pref_accuracy` is the handout's "classification accuracy" (chosen response more likely than the
rejected one under the policy); `eval/reward_accuracy` counts pairs whose implicit reward margin
β[(log π - log π_ref)(y_w) - (log π - log π_ref)(y_l)] is > 0 (ties, e.g. policy = reference, count as wrong);
`eval/reward_margin` is its mean. The checkpoint with the best `dpo.best_metric` is saved to `best_model/`.

Departures from the handout: batched micro-batches are allowed (`micro_batch_pairs`, handout: 1); models stay in
eval mode throughout (no dropout: policy and reference log-probs are deterministic, as the spec's DPO notes ask).

    cs336-alignment dpo --config configs/dpo_debug_cpu.toml --set model.path='"runs/<instruct>/model"'
    cs336-alignment dpo --config configs/dpo_synthetic_h100.toml --set model.path='"runs/<instruct>/model"'
"""

import hashlib
import logging
import math
import random
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from cs336_alignment.config import config_to_dict
from cs336_alignment.dpo import preference_sequence
from cs336_alignment.dpo_data import PreferencePair, load_preference_data, save_pairs
from cs336_alignment.errors import AlignmentError
from cs336_alignment.instruct.packed import format_alpaca
from cs336_alignment.metrics import MetricsLogger, env_info, make_run_dir, write_json
from cs336_alignment.policy import load_policy, resolve_device, save_policy, seed_everything
from cs336_alignment.schedule import autocast, lr_at, make_optimizer
from cs336_alignment.sft_utils import get_response_log_probs
from cs336_alignment.supplement_config import DPORunConfig

logger = logging.getLogger(__name__)
EncodedPair = tuple[list[int], list[int], int]  # chosen ids, rejected ids, index of the first response token


def encode_pair(tokenizer, pair: PreferencePair) -> EncodedPair:
    """Both sequences and where the response starts (the prompt's own tokens when they prefix both sequences)."""
    chosen = preference_sequence(tokenizer, pair.prompt, pair.chosen)
    rejected = preference_sequence(tokenizer, pair.prompt, pair.rejected)
    prompt = tokenizer.encode(format_alpaca(pair.prompt, ""))
    if chosen[: len(prompt)] == prompt and rejected[: len(prompt)] == prompt:
        return chosen, rejected, len(prompt)
    common = 0  # a merge across the prompt/response boundary: fall back to the common prefix (it cancels exactly)
    while common < min(len(chosen), len(rejected)) and chosen[common] == rejected[common]:
        common += 1
    return chosen, rejected, common


def sequence_log_probs(
    model: torch.nn.Module, seqs: list[list[int]], starts: list[int], pad_id: int, device: torch.device
) -> Tensor:
    """Summed log p of tokens seqs[b][starts[b]:] given their prefix, for a right-padded batch: fp32 (B,)."""
    length = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), length), pad_id, dtype=torch.long)
    mask = torch.zeros(len(seqs), length - 1, dtype=torch.bool)
    for b, (s, start) in enumerate(zip(seqs, starts)):
        ids[b, : len(s)] = torch.tensor(s)
        mask[b, max(start - 1, 0) : len(s) - 1] = True  # label t is token t+1
    ids, mask = ids.to(device), mask.to(device)
    log_probs = get_response_log_probs(model, ids[:, :-1], ids[:, 1:])["log_probs"]
    return (log_probs * mask).sum(-1)


def pair_log_probs(model, pairs: list[EncodedPair], pad_id: int, device, use_amp: bool) -> Tensor:
    """(len(pairs), 2) summed response log-probs [chosen, rejected], chosen and rejected in one forward."""
    seqs = [p[0] for p in pairs] + [p[1] for p in pairs]
    starts = [p[2] for p in pairs] * 2
    with autocast(device, use_amp):
        lp = sequence_log_probs(model, seqs, starts, pad_id, device)
    return torch.stack([lp[: len(pairs)], lp[len(pairs) :]], dim=-1)


def dpo_loss_from_log_probs(policy: Tensor, reference: Tensor, beta: float) -> tuple[Tensor, Tensor]:
    """Per-pair DPO losses and implicit-reward margins from (N, 2) [chosen, rejected] log-prob tables."""
    margin = beta * ((policy[:, 0] - reference[:, 0]) - (policy[:, 1] - reference[:, 1]))
    return -F.logsigmoid(margin), margin


@torch.no_grad()
def score_pairs(model, pairs: list[EncodedPair], pad_id: int, device, use_amp: bool, batch_pairs: int) -> Tensor:
    out = [
        pair_log_probs(model, pairs[i : i + batch_pairs], pad_id, device, use_amp).float().cpu()
        for i in range(0, len(pairs), batch_pairs)
    ]
    return torch.cat(out) if out else torch.zeros(0, 2)


def _fingerprint(config: DPORunConfig, train: list[EncodedPair], val: list[EncodedPair]) -> str:
    h = hashlib.sha256(repr((config.model.path, config.model.dtype)).encode())
    for chosen, rejected, start in train + val:
        h.update(repr((chosen, rejected, start)).encode())
    return h.hexdigest()


def reference_log_probs(
    config: DPORunConfig, train: list[EncodedPair], val: list[EncodedPair], pad_id: int, run_dir: Path, device
) -> tuple[Tensor, Tensor, torch.nn.Module | None]:
    """(train table, val table, the reference model if it must stay loaded, else None)."""
    d = config.dpo
    fingerprint = _fingerprint(config, train, val)
    if d.reference_cache:
        cache = torch.load(d.reference_cache, map_location="cpu")
        if cache.get("fingerprint") != fingerprint:
            raise AlignmentError(
                f"{d.reference_cache} was computed for other pairs or another reference model; drop dpo.reference_cache"
            )
        return cache["train"], cache["val"], None
    ref_device = resolve_device(d.reference_device) if d.reference_device else device
    reference, _ = load_policy(config.model, ref_device)
    reference.eval().requires_grad_(False)
    val_table = score_pairs(reference, val, pad_id, ref_device, d.use_bf16_autocast, 2 * d.micro_batch_pairs)
    if not d.precompute_reference:
        return torch.zeros(len(train), 2), val_table, reference
    t0 = time.perf_counter()
    train_table = score_pairs(reference, train, pad_id, ref_device, d.use_bf16_autocast, 2 * d.micro_batch_pairs)
    torch.save({"fingerprint": fingerprint, "train": train_table, "val": val_table}, run_dir / "reference_logps.pt")
    logger.info(
        "reference log-probs of %d pairs in %.1f s; reference freed", len(train) + len(val), time.perf_counter() - t0
    )
    del reference
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return train_table, val_table, None


def evaluate_dpo(model, val: list[EncodedPair], val_ref: Tensor, sources: list[str], config, pad_id, device) -> dict:
    d = config.dpo
    policy = score_pairs(model, val, pad_id, device, d.use_bf16_autocast, 2 * d.micro_batch_pairs)
    losses, margin = dpo_loss_from_log_probs(policy, val_ref, d.beta)
    metrics = {
        "eval/loss": float(losses.mean()),
        "eval/pref_accuracy": float((policy[:, 0] > policy[:, 1]).float().mean()),
        "eval/reward_accuracy": float((margin > 0).float().mean()),
        "eval/reward_margin": float(margin.mean()),
        "eval/chosen_reward": float(d.beta * (policy[:, 0] - val_ref[:, 0]).mean()),
        "eval/rejected_reward": float(d.beta * (policy[:, 1] - val_ref[:, 1]).mean()),
    }
    for source in sorted(set(sources)):
        idx = torch.tensor([s == source for s in sources])
        if source and idx.sum() >= 1:
            metrics[f"eval/reward_accuracy/{source}"] = float((margin[idx] > 0).float().mean())
            metrics[f"eval/pref_accuracy/{source}"] = float((policy[idx, 0] > policy[idx, 1]).float().mean())
    return metrics


def _train_step(model, optimizer, step_pairs, ref_rows, reference, config, pad_id, device) -> dict[str, float]:
    d = config.dpo
    totals = {"loss": 0.0, "acc": 0.0, "margin": 0.0}
    for start in range(0, len(step_pairs), d.micro_batch_pairs):
        micro = step_pairs[start : start + d.micro_batch_pairs]
        ref = ref_rows[start : start + d.micro_batch_pairs].to(device)
        if reference is not None:
            ref_device = next(reference.parameters()).device
            ref = score_pairs(reference, micro, pad_id, ref_device, d.use_bf16_autocast, len(micro)).to(device)
        policy = pair_log_probs(model, micro, pad_id, device, d.use_bf16_autocast)
        losses, margin = dpo_loss_from_log_probs(policy, ref, d.beta)
        (losses.sum() / len(step_pairs)).backward()
        totals["loss"] += float(losses.detach().sum())
        totals["acc"] += float((margin.detach() > 0).sum())
        totals["margin"] += float(margin.detach().sum())
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), config.schedule.grad_clip)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    n = len(step_pairs)
    return {
        "train/loss": totals["loss"] / n,
        "train/reward_accuracy": totals["acc"] / n,
        "train/reward_margin": totals["margin"] / n,
        "train/grad_norm": float(grad_norm),
    }


def _encode_all(tokenizer, pairs: list[PreferencePair], limit: int | None) -> tuple[list[EncodedPair], list[int]]:
    encoded, kept = [], []
    for i, p in enumerate(pairs):
        e = encode_pair(tokenizer, p)
        if limit is None or max(len(e[0]), len(e[1])) - 1 <= limit:
            encoded.append(e)
            kept.append(i)
    return encoded, kept


def run_dpo(config: DPORunConfig) -> dict[str, Any]:
    seed_everything(config.run.seed)
    device = resolve_device(config.run.device)
    d = config.dpo
    train_pairs, val_pairs = load_preference_data(config.pref_data, config.run.seed)
    model, tokenizer = load_policy(config.model, device)
    model.eval()  # no dropout: see the module docstring
    run_dir = make_run_dir(config.run.out_dir, f"dpo-{config.run.name}")
    write_json(run_dir / "config.json", config_to_dict(config))
    write_json(run_dir / "env.json", env_info())
    save_pairs(run_dir / "train_pairs.jsonl", train_pairs)
    save_pairs(run_dir / "val_pairs.jsonl", val_pairs)
    limit = getattr(model, "context_length", None) or getattr(
        getattr(model, "config", None), "max_position_embeddings", None
    )
    train, _ = _encode_all(tokenizer, train_pairs, limit)
    val, val_kept = _encode_all(tokenizer, val_pairs, limit)
    if not train or not val:
        raise AlignmentError(f"no pair fits the model's context ({limit} tokens)")
    sources = [val_pairs[i].source for i in val_kept]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    metrics = MetricsLogger.for_run(
        run_dir, config.run.log_every, config.run.wandb, config.run.wandb_project, config_to_dict(config)
    )
    metrics.log(
        {
            "data/train_pairs": len(train),
            "data/val_pairs": len(val),
            "data/dropped_too_long": len(train_pairs) + len(val_pairs) - len(train) - len(val),
        },
        0,
    )
    t0 = time.perf_counter()
    train_ref, val_ref, reference = reference_log_probs(config, train, val, pad_id, run_dir, device)
    metrics.log({"perf/reference_s": time.perf_counter() - t0}, 0)
    optimizer = make_optimizer(model.parameters(), config.schedule)
    steps_per_epoch = math.ceil(len(train) / d.pairs_per_step)
    total_steps = (
        steps_per_epoch * d.num_epochs if not d.max_steps else min(d.max_steps, steps_per_epoch * d.num_epochs)
    )
    initial = evaluate_dpo(model, val, val_ref, sources, config, pad_id, device)
    metrics.log(initial, 0)
    best_value, best_step = initial[d.best_metric], 0
    if d.save_best:
        save_policy(model, tokenizer, run_dir / "best_model")
    rng = random.Random(config.run.seed)
    started, step, last = time.perf_counter(), 0, initial
    while step < total_steps:
        order = list(range(len(train)))
        rng.shuffle(order)
        for begin in range(0, len(order), d.pairs_per_step):
            if step >= total_steps:
                break
            idx = order[begin : begin + d.pairs_per_step]
            lr = lr_at(step, total_steps, config.schedule)
            for g in optimizer.param_groups:
                g["lr"] = lr
            t_step = time.perf_counter()
            row = _train_step(
                model, optimizer, [train[i] for i in idx], train_ref[idx], reference, config, pad_id, device
            )
            step += 1
            row.update({"train/lr": lr, "perf/step_s": time.perf_counter() - t_step})
            out_of_time = bool(config.run.time_budget_s) and time.perf_counter() - started > config.run.time_budget_s
            if (d.eval_every and step % d.eval_every == 0) or step == total_steps or out_of_time:
                last = evaluate_dpo(model, val, val_ref, sources, config, pad_id, device)
                row.update(last)
                if last[d.best_metric] > best_value:
                    best_value, best_step = last[d.best_metric], step
                    if d.save_best:
                        save_policy(model, tokenizer, run_dir / "best_model")
            metrics.log(row, step)
            if out_of_time:
                logger.info("time budget reached at step %d", step)
                total_steps = step
                break
    metrics.close()
    save_policy(model, tokenizer, run_dir / "model")
    summary = {
        "run_dir": str(run_dir),
        "steps": step,
        "train_s": time.perf_counter() - started,
        "pairs_per_step": d.pairs_per_step,
        "initial": initial,
        "final": last,
        "best_metric": d.best_metric,
        "best_value": best_value,
        "best_step": best_step,
        "best_model": str(run_dir / "best_model") if d.save_best else None,
    }
    write_json(run_dir / "summary.json", summary)
    return summary
