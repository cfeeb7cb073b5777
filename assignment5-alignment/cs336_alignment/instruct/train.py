"""Instruction tuning on packed Alpaca-format data (supplement problems sft_script / sft).

Loop: packed fixed-length examples (`PackedSFTDataset`: template, EOS between documents, optional shuffle) in
batches of `instruct.batch_size` sequences split into `gradient_accumulation_steps` micro-batches; mean next-token
cross-entropy over every position (the handout trains on the whole packed stream, prompts included); gradient
clipping after the last micro-batch; linear warm-up then cosine decay (`schedule.py`); validation loss every
`instruct.eval_every` steps and at the end; model + tokenizer saved with `save_policy` (`load_policy` reads it back).

Policies: any saved model (`model.kind = "basics"`: assignment-1 TransformerLM; `"hf"`: a transformers causal LM),
or, with an empty `model.path`, a fresh assignment-1 model of shape `[init]` whose tokenizer comes from
`model.tokenizer_path` (a saved HF tokenizer or GPT-2 vocab/merges files).

    cs336-alignment instruct-tune --config configs/instruct_debug_cpu.toml                    # CPU, seconds
    cs336-alignment instruct-tune --config configs/instruct_synthetic_h100.toml               # GPU proof
    cs336-alignment instruct-tune --config configs/instruct_llama3.1_8b_h100.toml \
        --set model.path='"/models/Llama-3.1-8B"'                                               # handout recipe
"""

import json
import logging
import math
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from cs336_alignment.config import config_to_dict
from cs336_alignment.data.instruct_synthetic import instruction_splits
from cs336_alignment.errors import AlignmentError
from cs336_alignment.instruct.packed import PackedSFTDataset, iterate_batches
from cs336_alignment.instruct.tokenizer import resolve_tokenizer
from cs336_alignment.metrics import MetricsLogger, env_info, make_run_dir, write_json
from cs336_alignment.policy import DTYPES, load_policy, resolve_device, save_policy, seed_everything
from cs336_alignment.schedule import autocast, lr_at, make_optimizer, warmup_steps
from cs336_alignment.sft_utils import model_logits
from cs336_alignment.supplement_config import InstructRunConfig

logger = logging.getLogger(__name__)


def build_policy(config: Any, device: torch.device) -> tuple[torch.nn.Module, Any]:
    """`load_policy` for a saved model; a fresh assignment-1 model of shape `config.init` when model.path is empty."""
    m = config.model
    if m.path:
        return load_policy(m, device)
    if m.kind != "basics" or not m.tokenizer_path:
        raise AlignmentError(
            "model.path is empty: set it to a saved model, or set model.kind = 'basics' and model.tokenizer_path "
            "to train a fresh assignment-1 model of shape [init]"
        )
    from cs336_basics.model import TransformerLM

    tokenizer = resolve_tokenizer(m.tokenizer_path)
    i = config.init
    model = TransformerLM(
        vocab_size=len(tokenizer),
        context_length=i.context_length,
        d_model=i.d_model,
        num_layers=i.num_layers,
        num_heads=i.num_heads,
        d_ff=i.d_ff,
        attn_backend=i.attn_backend,
        vocab_pad_multiple=i.vocab_pad_multiple,
        device=device,
    )
    return model.to(DTYPES[m.dtype]), tokenizer


def _write_rows(path: Path, rows: list[dict]) -> Path:
    with path.open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    return path


def instruct_datasets(config: InstructRunConfig, tokenizer, run_dir: Path) -> tuple[PackedSFTDataset, Any]:
    """(train, val or None) packed datasets; synthetic rows are written to the run directory first."""
    d = config.instruct_data
    train_path, val_path = d.train_path, d.val_path
    if d.format == "synthetic":
        train_rows, val_rows = instruction_splits(d.synthetic_num_train, d.synthetic_num_val, d.synthetic_seed)
        train_path = str(_write_rows(run_dir / "train.jsonl", train_rows))
        val_path = str(_write_rows(run_dir / "val.jsonl", val_rows))
    train = PackedSFTDataset(tokenizer, train_path, d.seq_length, shuffle=d.shuffle)
    if len(train) == 0:
        raise AlignmentError(f"{train_path} packs into 0 examples of {d.seq_length} tokens; lower seq_length")
    val = PackedSFTDataset(tokenizer, val_path, d.seq_length, shuffle=False) if val_path else None
    return train, (val if val is not None and len(val) else None)


def lm_loss(model: torch.nn.Module, input_ids: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy in fp32 (labels are already shifted)."""
    logits = model_logits(model, input_ids)
    return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1))


@torch.no_grad()
def validation_loss(model: torch.nn.Module, loader: DataLoader, device, use_amp: bool, max_batches: int = 0) -> float:
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for k, batch in enumerate(loader):
        if max_batches and k >= max_batches:
            break
        with autocast(device, use_amp):
            loss = lm_loss(model, batch["input_ids"].to(device), batch["labels"].to(device))
        total += float(loss) * batch["input_ids"].numel()
        count += batch["input_ids"].numel()
    model.train(was_training)
    return total / max(count, 1)


def _check_context(model: torch.nn.Module, seq_length: int) -> None:
    limit = getattr(model, "context_length", None) or getattr(
        getattr(model, "config", None), "max_position_embeddings", None
    )
    if limit is not None and seq_length > limit:
        raise AlignmentError(f"instruct_data.seq_length ({seq_length}) exceeds the model's context length ({limit})")


def run_instruct_tune(config: InstructRunConfig) -> dict[str, Any]:
    """Train, evaluate, save; returns the summary written to summary.json."""
    seed_everything(config.run.seed)
    device = resolve_device(config.run.device)
    model, tokenizer = build_policy(config, device)
    _check_context(model, config.instruct_data.seq_length)
    run_dir = make_run_dir(config.run.out_dir, f"instruct-{config.run.name}")
    write_json(run_dir / "config.json", config_to_dict(config))
    write_json(run_dir / "env.json", env_info())
    train, val = instruct_datasets(config, tokenizer, run_dir)
    ic = config.instruct
    steps_per_epoch = math.ceil(len(train) / ic.batch_size)
    total_steps = steps_per_epoch * ic.num_epochs
    if ic.max_steps:
        total_steps = min(total_steps, ic.max_steps)
    optimizer = make_optimizer(model.parameters(), config.schedule)
    metrics = MetricsLogger.for_run(
        run_dir, config.run.log_every, config.run.wandb, config.run.wandb_project, config_to_dict(config)
    )
    use_amp = ic.use_bf16_autocast
    val_loader = iterate_batches(val, ic.micro_batch_size, shuffle=False) if val is not None else None
    metrics.log(
        {
            "data/train_examples": len(train),
            "data/val_examples": len(val) if val is not None else 0,
            "data/train_tokens": len(train) * config.instruct_data.seq_length,
            "train/total_steps": total_steps,
            "train/warmup_steps": warmup_steps(total_steps, config.schedule),
        },
        0,
    )
    logger.info("run directory %s: %d packed examples, %d optimizer steps", run_dir, len(train), total_steps)
    started = time.perf_counter()
    step, history = 0, []
    model.train()
    while step < total_steps:
        loader = iterate_batches(train, ic.micro_batch_size, shuffle=config.instruct_data.shuffle)
        micro_batches = iter(loader)
        while step < total_steps:
            group = [b for _, b in zip(range(ic.gradient_accumulation_steps), micro_batches)]
            if not group:
                break
            t0 = time.perf_counter()
            lr = lr_at(step, total_steps, config.schedule)
            for g in optimizer.param_groups:
                g["lr"] = lr
            num_tokens = sum(b["input_ids"].numel() for b in group)
            loss_sum = 0.0
            for b in group:
                ids, labels = b["input_ids"].to(device), b["labels"].to(device)
                with autocast(device, use_amp):
                    loss = lm_loss(model, ids, labels)
                # Token-weighted mean over the whole optimizer batch (a short last batch weighs its real size).
                (loss * ids.numel() / num_tokens).backward()
                loss_sum += float(loss.detach()) * ids.numel()
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), config.schedule.grad_clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            row = {
                "train/loss": loss_sum / num_tokens,
                "train/lr": lr,
                "train/grad_norm": float(grad_norm),
                "perf/train_tokens_per_s": num_tokens / max(time.perf_counter() - t0, 1e-9),
            }
            if val_loader is not None and ic.eval_every and step % ic.eval_every == 0 and step < total_steps:
                row["eval/loss"] = validation_loss(model, val_loader, device, use_amp, ic.max_eval_batches)
                history.append((step, row["eval/loss"]))
            metrics.log(row, step)
            if config.run.time_budget_s and time.perf_counter() - started > config.run.time_budget_s:
                logger.info("time budget reached at step %d", step)
                total_steps = step
    final: dict[str, Any] = {"train/loss": row["train/loss"] if step else float("nan")}
    if val_loader is not None:
        final["eval/loss"] = validation_loss(model, val_loader, device, use_amp, ic.max_eval_batches)
        metrics.log({"eval/loss": final["eval/loss"]}, step)
    metrics.close()
    model_dir = save_policy(model, tokenizer, run_dir / "model")
    summary = {
        "run_dir": str(run_dir),
        "model_dir": str(model_dir),
        "steps": step,
        "train_s": time.perf_counter() - started,
        "train_examples": len(train),
        **final,
    }
    write_json(run_dir / "summary.json", summary)
    return summary
