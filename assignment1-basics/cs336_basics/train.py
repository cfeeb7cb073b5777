"""The LM training loop (handout §5.3 `training_together`): memmapped data, AdamW + cosine schedule, clipping,
grad accumulation, bf16 autocast, torch.compile, periodic eval, JSONL/console/wandb metrics, checkpoints and
bit-identical resume.

    uv run cs336-basics train --config configs/debug_cpu.toml                   # < 1 min on CPU
    uv run cs336-basics train --config configs/offline_demo.toml                # corpus -> BPE -> LM -> samples
    uv run cs336-basics train --config configs/tinystories_17m_h100.toml --device cuda
    uv run cs336-basics train --resume runs/20260101-000000-demo                # continue from the latest ckpt

Resume is exact: a checkpoint holds model, optimizer (with AdamW's step counts), the step number (which is the
scheduler's whole state), the elapsed wall clock, and the python/numpy/torch/cuda RNGs plus the data sampler's
generator, so N straight steps and N/2 + resume give the same losses bit for bit (on the same device).
Deviation from the handout: the learning rate at optimizer step s (1-based) is get_cosine_lr(s, ...), so the first
step already trains and the cosine decay ends exactly at run.num_steps.
"""

import contextlib
import json
import logging
import math
import random
import shutil
import signal
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cs336_basics import data as data_lib
from cs336_basics import serialization as ser
from cs336_basics.config import TrainConfig, config_from_dict
from cs336_basics.errors import BasicsError, CheckpointError
from cs336_basics.metrics import (
    ConsoleSink,
    JsonlSink,
    MetricsLogger,
    NullSink,
    Sink,
    WandbSink,
    collect_env,
    make_run_dir,
    plot_run,
    write_json,
)

logger = logging.getLogger(__name__)

EOT = "<|endoftext|>"
_EVAL_SEED_OFFSET = 1_000_003  # eval windows come from their own generator: the same batches at every eval


def select_device(name: str) -> torch.device:
    """auto -> cuda, else mps, else cpu; an explicit device that is absent is an error, not a silent fallback."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise BasicsError("--device cuda was requested but torch sees no CUDA device")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise BasicsError("--device mps was requested but MPS is not available")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@contextlib.contextmanager
def _stop_on_signals(state: dict[str, Any]) -> Iterator[None]:
    """SIGINT/SIGTERM set a flag; the loop finishes its step, checkpoints and returns."""

    def handler(signum: int, frame: Any) -> None:
        state["signal"] = signal.Signals(signum).name

    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[sig] = signal.signal(sig, handler)
        except ValueError:  # not the main thread: leave the handlers alone
            pass
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    status: str  # "completed" | "interrupted" | "wall_clock"
    summary: dict[str, Any] = field(default_factory=dict)


def _build_model(cfg: TrainConfig, device: torch.device) -> torch.nn.Module:
    from cs336_basics.model import TransformerLM

    return TransformerLM(**cfg.model.model_kwargs(), device=device)


def _build_optimizer(cfg: TrainConfig, model: torch.nn.Module) -> torch.optim.Optimizer:
    from cs336_basics.optimizer import AdamW

    o = cfg.optim
    return AdamW(model.parameters(), lr=o.lr, betas=o.betas, eps=o.eps, weight_decay=o.weight_decay)


def _autocast(cfg: TrainConfig, device: torch.device) -> contextlib.AbstractContextManager:
    if cfg.run.dtype == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


class _LMLoss(torch.nn.Module):
    """model + cross-entropy as one module, so torch.compile fuses the loss (the bf16 -> fp32 upcast of the logits
    never materializes). Checkpoints save the inner model, never this wrapper."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        from cs336_basics.nn_utils import cross_entropy

        return cross_entropy(self.model(x), y)  # upcasts to fp32 inside


def _loss(loss_fn: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, cfg: TrainConfig, device: torch.device):
    with _autocast(cfg, device):
        return loss_fn(x, y)


@torch.no_grad()
def evaluate(model: torch.nn.Module, val: np.ndarray, cfg: TrainConfig, device: torch.device) -> float:
    """Mean loss over `run.eval_batches` fixed validation batches (same windows every time)."""
    model.eval()
    gen = torch.Generator().manual_seed(cfg.run.seed + _EVAL_SEED_OFFSET)
    total = torch.zeros((), device=device)
    for _ in range(cfg.run.eval_batches):
        x, y = data_lib.get_batch(val, cfg.data.batch_size, cfg.seq_len, device, generator=gen)
        total += _loss(model, x, y, cfg, device)
    model.train()
    return float(total.item()) / max(cfg.run.eval_batches, 1)


def _make_sinks(cfg: TrainConfig, run_dir: Path, extra: Iterable[Sink]) -> MetricsLogger:
    wandb = WandbSink(cfg.run.wandb_project, run_dir.name, cfg.to_dict(), run_dir) if cfg.run.wandb else NullSink()
    return MetricsLogger([JsonlSink(run_dir / "metrics.jsonl"), ConsoleSink(cfg.run.log_every), wandb, *extra])


def _prepare_run(cfg: TrainConfig, resume: str | None) -> tuple[TrainConfig, Path, dict[str, Any] | None]:
    """Pick or create the run directory; on resume, load the checkpoint and take its config."""
    if resume is None:
        run_dir = make_run_dir(cfg.run.out_dir, cfg.run.name)
        return cfg, run_dir, None
    ckpt_path = ser.latest_checkpoint(resume)
    state = ser.read_checkpoint(ckpt_path)
    if "config" not in state or "rng_state" not in state:
        raise CheckpointError(f"{ckpt_path} holds no training state (config, rng_state); cannot resume from it")
    run_dir = ckpt_path.parent.parent if ckpt_path.parent.name == "ckpt" else ckpt_path.parent
    logger.info("resuming from %s (step %d)", ckpt_path, state["step"])
    return cfg, run_dir, state


def _resolve_data(cfg: TrainConfig, run_dir: Path) -> TrainConfig:
    """Build the offline corpus when asked (generate -> BPE -> encode, once per run dir) and point data at it."""
    if cfg.corpus.kind == "none":
        return cfg
    from cs336_basics.corpus import prepare_corpus

    paths = prepare_corpus(cfg.corpus, cfg.model.vocab_size, run_dir / "data")
    data = replace(cfg.data, train_path=str(paths.train), val_path=str(paths.val), tokenizer_dir=str(paths.tokenizer))
    return replace(cfg, data=data)


def _load_data(cfg: TrainConfig) -> tuple[np.ndarray, np.ndarray]:
    train = data_lib.load_tokens(cfg.data.train_path)
    val = data_lib.load_tokens(cfg.data.val_path)
    for tokens, name in ((train, f"train data {cfg.data.train_path}"), (val, f"validation data {cfg.data.val_path}")):
        data_lib.validate_tokens(tokens, vocab_size=cfg.model.vocab_size, context_length=cfg.seq_len, name=name)
    return train, val


def _save(path: Path, model, optimizer, step: int, cfg: TrainConfig, sampler, elapsed_s: float) -> None:
    rng = ser.capture_rng_state(sampler)
    ser.save_checkpoint(model, optimizer, step, path, config=cfg.to_dict(), rng_state=rng, elapsed_s=elapsed_s)
    logger.info("saved checkpoint %s", path)


def _train_step(step_model, model, optimizer, train_tokens, sampler, lr: float, grad_clip: float, cfg: TrainConfig):
    """One optimizer step over `grad_accum_steps` micro-batches; returns (summed loss, pre-clip grad norm) as
    device tensors (no host sync here)."""
    from cs336_basics.nn_utils import clip_gradient

    device = next(model.parameters()).device
    for group in optimizer.param_groups:
        group["lr"] = lr
    loss_sum = torch.zeros((), device=device)
    for _ in range(cfg.data.grad_accum_steps):
        x, y = data_lib.get_batch(train_tokens, cfg.data.batch_size, cfg.seq_len, device, generator=sampler)
        loss = _loss(step_model, x, y, cfg, device) / cfg.data.grad_accum_steps
        loss.backward()
        loss_sum += loss.detach()
    grad_norm = clip_gradient(model.parameters(), grad_clip)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss_sum, grad_norm


def _train_metrics(train_loss: float, grad_norm, lr: float, tokens_per_s: float, step: int, cfg: TrainConfig) -> dict:
    """The log line of one step (style guide §2.5 keys); a non-finite loss stops the run with a hint."""
    if not math.isfinite(train_loss):
        raise BasicsError(f"loss became {train_loss} at step {step}; lower optim.lr or check the data")
    metrics = {
        "tokens": step * cfg.tokens_per_step,
        "train/loss": train_loss,
        "train/lr": lr,
        "train/grad_norm": float(grad_norm),
        "perf/tokens_per_s": tokens_per_s,
    }
    if grad_norm.device.type == "cuda":
        metrics["mem/peak_gib"] = torch.cuda.max_memory_allocated(grad_norm.device) / 2**30
    return metrics


def train(
    cfg: TrainConfig,
    *,
    resume: str | None = None,
    resume_overrides: list[str] | None = None,
    extra_sinks: Iterable[Sink] = (),
) -> TrainResult:
    """Run (or resume) one training run; return its directory, final step and status."""
    cfg, run_dir, state = _prepare_run(cfg, resume)
    if state is not None:
        from cs336_basics.config import apply_overrides

        cfg = config_from_dict(apply_overrides(state["config"], resume_overrides or []))
    device = select_device(cfg.run.device)
    seed_everything(cfg.run.seed)
    if cfg.run.num_threads:
        torch.set_num_threads(cfg.run.num_threads)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = cfg.run.tf32
        torch.backends.cudnn.allow_tf32 = cfg.run.tf32
    cfg = _resolve_data(cfg, run_dir)
    train_tokens, val_tokens = _load_data(cfg)
    write_json(run_dir / "config.json", cfg.to_dict())
    write_json(run_dir / "env.json", {**collect_env(), "device": str(device)})

    model = _build_model(cfg, device)
    optimizer = _build_optimizer(cfg, model)
    sampler = torch.Generator().manual_seed(cfg.run.seed)
    start_step, elapsed_before = 0, 0.0
    if state is not None:
        try:
            model.load_state_dict(ser._strip_compile_prefix(state["model"]))
            optimizer.load_state_dict(state["optimizer"])
        except (RuntimeError, ValueError, KeyError) as exc:
            raise CheckpointError(f"checkpoint does not match the config's model: {str(exc).splitlines()[0]}") from exc
        ser.restore_rng_state(state["rng_state"], sampler)
        start_step, elapsed_before = int(state["step"]), float(state.get("elapsed_s", 0.0))
    step_model = _LMLoss(model)
    if cfg.run.compile:
        step_model = torch.compile(step_model)

    from cs336_basics.optimizer import get_cosine_lr

    flops_per_token, peak = _mfu_terms(cfg, device)
    sinks = _make_sinks(cfg, run_dir, extra_sinks)
    ckpt_dir = run_dir / "ckpt"
    o, r = cfg.optim, cfg.run
    grad_clip = o.grad_clip if o.grad_clip > 0 else math.inf
    stop: dict[str, Any] = {}
    status, step, last_eval = "completed", start_step, math.nan
    t_start = time.perf_counter()
    t_log, tokens_since_log = t_start, 0
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    progress = _progress_bar(r.progress, start_step, r.num_steps)
    with _stop_on_signals(stop):
        for step in range(start_step + 1, r.num_steps + 1):
            lr = get_cosine_lr(step, o.lr, o.min_lr, o.warmup_steps, r.num_steps)
            loss_sum, grad_norm = _train_step(step_model, model, optimizer, train_tokens, sampler, lr, grad_clip, cfg)
            tokens_since_log += cfg.tokens_per_step
            progress.update(1)

            is_last = step == r.num_steps
            elapsed = elapsed_before + time.perf_counter() - t_start
            out_of_time = r.max_wall_clock_s > 0 and elapsed >= r.max_wall_clock_s
            metrics: dict[str, Any] = {}
            if step % r.log_every == 0 or is_last or stop or out_of_time:
                train_loss = float(loss_sum.item())  # synchronizes, so the timing below is honest
                now = time.perf_counter()
                tokens_per_s = tokens_since_log / max(now - t_log, 1e-9)
                metrics = {
                    "time_s": round(elapsed, 3),
                    **_train_metrics(train_loss, grad_norm, lr, tokens_per_s, step, cfg),
                }
                if peak:
                    metrics["perf/mfu"] = metrics["perf/tokens_per_s"] * flops_per_token / peak
                t_log, tokens_since_log = now, 0
                progress.set_postfix(loss=f"{train_loss:.3f}", lr=f"{lr:.2e}")
            if step % r.eval_every == 0 or is_last or stop or out_of_time:
                last_eval = evaluate(step_model, val_tokens, cfg, device)
                metrics.update(
                    {"time_s": round(elapsed, 3), "eval/loss": last_eval, "eval/perplexity": _ppl(last_eval)}
                )
                t_log, tokens_since_log = time.perf_counter(), 0  # eval time is not training throughput
            if metrics:
                sinks.log(metrics, step)
            if (r.ckpt_every and step % r.ckpt_every == 0) or is_last or stop or out_of_time:
                _save(ser.checkpoint_path(ckpt_dir, step), model, optimizer, step, cfg, sampler, elapsed)
                t_log, tokens_since_log = time.perf_counter(), 0
            if stop or out_of_time:
                status = "interrupted" if stop else "wall_clock"
                logger.warning("stopping at step %d (%s)", step, stop.get("signal", "max_wall_clock_s"))
                break
    progress.close()
    sinks.close()
    if math.isnan(last_eval):  # resumed a run that had already finished: report its loss again
        last_eval = evaluate(step_model, val_tokens, cfg, device)
    summary = _finish(cfg, run_dir, model, step, status, last_eval, elapsed_before + time.perf_counter() - t_start)
    return TrainResult(run_dir=run_dir, step=step, status=status, summary=summary)


def _mfu_terms(cfg: TrainConfig, device: torch.device) -> tuple[float, float | None]:
    """(training FLOPs per token, device peak FLOP/s or None) for MFU = tokens/s * FLOPs/token / peak.

    The peak is the datasheet figure for the precision the matmuls run in (bf16 autocast, TF32, or fp32); CPUs and
    unknown GPUs have none, and their log lines simply carry no perf/mfu.
    """
    from cs336_basics.accounting import flops_per_token, lookup_peak_flops

    flops = flops_per_token(cfg.model, seq_len=cfg.seq_len)
    if device.type != "cuda":
        return flops, None
    precision = "bf16" if cfg.run.dtype == "bf16" else ("tf32" if cfg.run.tf32 else "fp32")
    try:
        return flops, lookup_peak_flops(torch.cuda.get_device_name(device), precision)
    except BasicsError as exc:
        logger.warning("no MFU: %s", exc)
        return flops, None


def _ppl(loss: float) -> float:
    return math.exp(min(loss, 50.0))


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def set_postfix(self, **kw: Any) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(enabled: bool, start: int, total: int) -> Any:
    if not enabled:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=start, desc="train", unit="step", dynamic_ncols=True)


def _finish(cfg: TrainConfig, run_dir: Path, model, step: int, status: str, eval_loss: float, wall_s: float) -> dict:
    """Export the model, write samples, summary.json and the loss plots."""
    model_dir = run_dir / "model"
    model.save_pretrained(model_dir)
    samples: list[dict[str, Any]] = []
    tok_dir = Path(cfg.data.tokenizer_dir) if cfg.data.tokenizer_dir else None
    if tok_dir is not None and (tok_dir / "vocab.json").is_file():
        shutil.copytree(tok_dir, run_dir / "tokenizer", dirs_exist_ok=True)
        if cfg.run.sample_prompts and cfg.run.sample_max_new_tokens:
            from cs336_basics.sampling import generate_texts, load_tokenizer

            texts = generate_texts(
                model,
                load_tokenizer(tok_dir),
                cfg.run.sample_prompts,
                max_new_tokens=cfg.run.sample_max_new_tokens,
                temperature=cfg.run.sample_temperature,
                top_p=cfg.run.sample_top_p,
            )
            samples = [{"step": step, "prompt": p, "completion": t} for p, t in zip(cfg.run.sample_prompts, texts)]
            with open(run_dir / "samples.jsonl", "a", encoding="utf-8") as f:
                for row in samples:
                    f.write(json.dumps(row) + "\n")
    summary = {
        "status": status,
        "step": step,
        "tokens": step * cfg.tokens_per_step,
        "eval/loss": eval_loss,
        "wall_clock_s": round(wall_s, 3),
        "num_params": model.get_num_params(non_embedding=False),
        "num_params_non_embedding": model.get_num_params(non_embedding=True),
        "samples": samples,
    }
    write_json(run_dir / "summary.json", summary)
    try:
        plot_run(run_dir)
    except Exception as exc:  # plotting is a convenience: a broken matplotlib never fails a finished run
        logger.warning("could not plot %s: %s", run_dir, exc)
    return summary
