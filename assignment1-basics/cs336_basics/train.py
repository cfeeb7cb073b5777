"""The LM training loop (handout §5.3 `training_together`): memmapped data, AdamW + cosine schedule, clipping,
grad accumulation, bf16 autocast, torch.compile, periodic eval, JSONL/console/wandb metrics, checkpoints and
bit-identical resume.

    uv run cs336-basics train --config configs/debug_cpu.toml                   # < 1 min on CPU
    uv run cs336-basics train --config configs/offline_demo.toml                # corpus -> BPE -> LM -> samples
    uv run cs336-basics train --config configs/tinystories_17m_h100.toml --device cuda
    uv run cs336-basics train --resume runs/20260101-000000-demo                # continue from the latest ckpt
    torchrun --nproc-per-node 8 -m cs336_basics train --config ... --parallel fsdp   # data parallel (cs336-systems)

Resume is exact: a checkpoint holds model, optimizer (with AdamW's step counts), the step number (which is the
scheduler's whole state), the elapsed wall clock, and the python/numpy/torch/cuda RNGs plus the data sampler's
generator, so N straight steps and N/2 + resume give the same losses bit for bit (on the same device).

Data parallel (`run.parallel` = ddp | fsdp, strategies in `cs336_basics.parallel`): every rank draws the same
global batch of start indices per optimizer step (batch_size x world x grad-accum windows) and takes its own slice
(micro-step a, rank r: windows (a * world + r) * batch_size ...), so the data and the averaged gradient depend on
the global batch only. Only rank 0 writes the run directory, logs and shows progress; losses and eval are reduced
over ranks; checkpoints are sharded (see `serialization`) and resume on any world size.
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
from cs336_basics.parallel import Parallelism, create_parallelism

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
    is_main: bool = True  # rank 0 (the rank that prints)


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
def evaluate(
    model: torch.nn.Module, val: np.ndarray, cfg: TrainConfig, device: torch.device, par: Parallelism | None = None
) -> float:
    """Mean loss over `run.eval_batches` fixed validation batches (same windows every time, on any world size).

    With W ranks, rank r evaluates batches r, r + W, ... and the sums are all-reduced. Every rank runs the same
    number of forward passes (a rank past the end re-runs batch 0 and discards it), since FSDP's are collective.
    """
    par = par or Parallelism(cfg)
    n, b, world = cfg.run.eval_batches, cfg.data.batch_size, par.world_size
    model.eval()
    gen = torch.Generator().manual_seed(cfg.run.seed + _EVAL_SEED_OFFSET)
    starts = data_lib.sample_starts(val, n * b, cfg.seq_len, gen)
    total = torch.zeros((), device=device)
    for i in range(par.rank, -(-n // world) * world, world):
        j = i if i < n else 0
        x, y = data_lib.batch_at(val, starts[j * b : (j + 1) * b], cfg.seq_len, device)
        loss = _loss(model, x, y, cfg, device)
        if i < n:
            total += loss
    model.train()
    return float(par.all_reduce(total).item()) / max(n, 1)


def _make_sinks(cfg: TrainConfig, run_dir: Path, extra: Iterable[Sink]) -> MetricsLogger:
    wandb = WandbSink(cfg.run.wandb_project, run_dir.name, cfg.to_dict(), run_dir) if cfg.run.wandb else NullSink()
    return MetricsLogger([JsonlSink(run_dir / "metrics.jsonl"), ConsoleSink(cfg.run.log_every), wandb, *extra])


def _read_resume(
    cfg: TrainConfig, resume: str | None, overrides: list[str] | None
) -> tuple[TrainConfig, Path | None, dict[str, Any] | None]:
    """On resume: load the checkpoint (one file, or a sharded directory reassembled into full tensors) and take
    its config with `overrides` applied; return (config, run dir, state). A fresh run gets (cfg, None, None)."""
    if resume is None:
        return cfg, None, None
    from cs336_basics.config import apply_overrides

    ckpt_path = ser.latest_checkpoint(resume)
    state = ser.read_checkpoint(ckpt_path)
    if "config" not in state or "rng_state" not in state:
        raise CheckpointError(f"{ckpt_path} holds no training state (config, rng_state); cannot resume from it")
    run_dir = ckpt_path.parent.parent if ckpt_path.parent.name == "ckpt" else ckpt_path.parent
    logger.info("resuming from %s (step %d)", ckpt_path, state["step"])
    return config_from_dict(apply_overrides(state["config"], overrides or [])), run_dir, state


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


@dataclass
class _Trainee:
    """What a checkpoint saves: the model (holding shards under FSDP), the module the loop calls, the optimizer,
    the data sampler, and how state-dict keys are sharded."""

    model: torch.nn.Module
    wrapped: torch.nn.Module
    optimizer: torch.optim.Optimizer
    sampler: torch.Generator
    param_names: list[str]
    layout: dict[str, tuple[int, int]]
    tokens: int = 0  # training tokens consumed so far, all ranks (exact across resumes on other world sizes)


def _save(ckpt_dir: Path, step: int, t: _Trainee, cfg: TrainConfig, par: Parallelism, elapsed_s: float) -> None:
    """One-file checkpoint for one process; a sharded directory (every rank writes its part) for ddp/fsdp."""
    if par.name == "none":
        path = ser.checkpoint_path(ckpt_dir, step)
        rng = ser.capture_rng_state(t.sampler)
        extra = {"config": cfg.to_dict(), "rng_state": rng, "elapsed_s": elapsed_s, "tokens": t.tokens}
        ser.save_checkpoint(t.model, t.optimizer, step, path, **extra)
    else:
        path = ser.sharded_checkpoint_path(ckpt_dir, step)
        tmp = path.with_name(path.name + ".tmp")
        if par.is_main:
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
        par.barrier()
        optim_state = t.optimizer.state_dict()
        rng = ser.capture_rng_state()
        ser.write_rank_shard(tmp, par.rank, t.model.state_dict(), optim_state, t.param_names, t.layout, rng)
        par.barrier()
        if par.is_main:
            meta = {
                "step": step,
                "world_size": par.world_size,
                "parallel": par.name,
                "layout": t.layout,
                "param_names": t.param_names,
                "param_groups": optim_state["param_groups"],
                "config": cfg.to_dict(),
                "sampler": t.sampler.get_state(),
                "elapsed_s": elapsed_s,
                "tokens": t.tokens,
            }
            ser.finalize_sharded_checkpoint(tmp, path, meta)
        par.barrier()
    if par.is_main:
        ser.prune_checkpoints(ckpt_dir, cfg.run.keep_last)
        logger.info("saved checkpoint %s", path)


def _restore(t: _Trainee, state: dict[str, Any], par: Parallelism) -> None:
    """Load a (full, reassembled) checkpoint state into this rank's optimizer shards and RNGs. The model weights
    were loaded before wrapping."""
    optim_state = state["optimizer"]
    if t.layout:
        optim_state = ser.shard_optimizer_state(optim_state, t.param_names, t.layout, par.rank)
    try:
        t.optimizer.load_state_dict(optim_state)
    except (RuntimeError, ValueError, KeyError) as exc:
        raise CheckpointError(f"checkpoint does not match the optimizer: {str(exc).splitlines()[0]}") from exc
    per_rank = state.get("rng_states") or [state["rng_state"]]
    rng = per_rank[par.rank] if par.rank < len(per_rank) else per_rank[0]  # new ranks take rank 0's
    ser.restore_rng_state({**rng, "sampler": state["rng_state"]["sampler"]}, t.sampler)


def _train_step(step_model, t: _Trainee, train_tokens, lr: float, grad_clip: float, cfg, par, accum: int, device):
    """One optimizer step over `accum` micro-batches per rank; returns (this rank's summed loss, pre-clip global
    grad norm) as device tensors (no host sync here)."""
    for group in t.optimizer.param_groups:
        group["lr"] = lr
    b, world = cfg.data.batch_size, par.world_size
    starts = data_lib.sample_starts(train_tokens, b * world * accum, cfg.seq_len, t.sampler)  # the global batch
    loss_sum = torch.zeros((), device=device)
    for a in range(accum):
        lo = (a * world + par.rank) * b
        x, y = data_lib.batch_at(train_tokens, starts[lo : lo + b], cfg.seq_len, device)
        with par.micro_step(t.wrapped, last=a == accum - 1):
            loss = _loss(step_model, x, y, cfg, device) / accum
            loss.backward()
        loss_sum += loss.detach()
    grad_norm = par.clip_grad_norm(t.wrapped, grad_clip)
    t.optimizer.step()
    t.optimizer.zero_grad(set_to_none=True)
    return loss_sum, grad_norm


def _train_metrics(train_loss: float, grad_norm, lr: float, tokens_per_s: float, step: int, tokens: int) -> dict:
    """The log line of one step (style guide §2.5 keys); a non-finite loss stops the run with a hint."""
    if not math.isfinite(train_loss):
        raise BasicsError(f"loss became {train_loss} at step {step}; lower optim.lr or check the data")
    metrics = {
        "tokens": tokens,
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
    """Run (or resume) one training run; return its directory, final step and status. Under `run.parallel` =
    ddp/fsdp every rank calls this (torchrun); rank 0's result has is_main=True."""
    cfg, run_dir, state = _read_resume(cfg, resume, resume_overrides)
    par = create_parallelism(cfg)
    try:
        device = par.setup()
        cfg.data.accum_steps(par.world_size)  # a batch that does not split over the ranks fails before any output
        result = _run(cfg, par, device, run_dir, state, extra_sinks)
        par.barrier()  # every rank is done with the group before any rank tears it down (close)
        return result
    finally:
        par.close()


def _run(cfg: TrainConfig, par: Parallelism, device, run_dir: Path | None, state, extra_sinks) -> TrainResult:
    if run_dir is None:
        run_dir = Path(par.broadcast_object(str(make_run_dir(cfg.run.out_dir, cfg.run.name)) if par.is_main else None))
    seed_everything(cfg.run.seed)
    if cfg.run.num_threads:
        torch.set_num_threads(cfg.run.num_threads)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = cfg.run.tf32
        torch.backends.cudnn.allow_tf32 = cfg.run.tf32
    if par.world_size == 1:
        cfg = _resolve_data(cfg, run_dir)
    else:  # rank 0 builds the corpus (if any) once; the others take its resolved paths
        cfg = config_from_dict(par.broadcast_object(_resolve_data(cfg, run_dir).to_dict() if par.is_main else None))
    accum = cfg.data.accum_steps(par.world_size)
    if state is not None and not cfg.data.global_batch_size and state.get("world_size", 1) != par.world_size:
        logger.warning(
            "resuming a %d-rank checkpoint on %d ranks changes the global batch; set data.global_batch_size to keep it",
            state.get("world_size", 1),
            par.world_size,
        )
    train_tokens, val_tokens = _load_data(cfg)
    if par.is_main:
        write_json(run_dir / "config.json", cfg.to_dict())
        write_json(run_dir / "env.json", {**collect_env(), "device": str(device), "world_size": par.world_size})

    model = _build_model(cfg, device)
    if state is not None:
        try:
            model.load_state_dict(ser._strip_compile_prefix(state["model"]))
        except (RuntimeError, ValueError, KeyError) as exc:
            raise CheckpointError(f"checkpoint does not match the config's model: {str(exc).splitlines()[0]}") from exc
    wrapped = par.wrap(model)
    optimizer = _build_optimizer(cfg, model)  # after wrapping: under FSDP the model holds this rank's shards
    t = _Trainee(
        model=model,
        wrapped=wrapped,
        optimizer=optimizer,
        sampler=torch.Generator().manual_seed(cfg.run.seed),
        param_names=[n for n, _ in model.named_parameters()],
        layout=par.shard_layout(wrapped),
    )
    tokens_per_step = cfg.data.batch_size * par.world_size * accum * cfg.seq_len
    start_step, elapsed_before = 0, 0.0
    if state is not None:
        _restore(t, state, par)
        start_step, elapsed_before = int(state["step"]), float(state.get("elapsed_s", 0.0))
        t.tokens = int(state.get("tokens", start_step * tokens_per_step))
        state = None  # the full tensors are no longer needed
    step_model = _LMLoss(wrapped)
    if cfg.run.compile:
        step_model = torch.compile(step_model)

    from cs336_basics.optimizer import get_cosine_lr

    flops_per_token, peak = _mfu_terms(cfg, device)
    sinks = _make_sinks(cfg, run_dir, extra_sinks) if par.is_main else MetricsLogger([])
    ckpt_dir = run_dir / "ckpt"
    o, r = cfg.optim, cfg.run
    grad_clip = o.grad_clip if o.grad_clip > 0 else math.inf
    stop: dict[str, Any] = {}
    status, step, last_eval = "completed", start_step, math.nan
    t_start = time.perf_counter()
    t_log, tokens_since_log = t_start, 0
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    progress = _progress_bar(r.progress and par.is_main, start_step, r.num_steps)
    with _stop_on_signals(stop):
        for step in range(start_step + 1, r.num_steps + 1):
            lr = get_cosine_lr(step, o.lr, o.min_lr, o.warmup_steps, r.num_steps)
            loss_sum, grad_norm = _train_step(step_model, t, train_tokens, lr, grad_clip, cfg, par, accum, device)
            tokens_since_log += tokens_per_step
            t.tokens += tokens_per_step
            progress.update(1)

            is_last = step == r.num_steps
            ckpt_due = bool(r.ckpt_every) and step % r.ckpt_every == 0
            elapsed = elapsed_before + time.perf_counter() - t_start
            out_of_time = r.max_wall_clock_s > 0 and elapsed >= r.max_wall_clock_s
            halt = bool(stop)
            if par.world_size > 1:  # signals and clocks are per process: ranks agree at steps that sync anyway
                flags = torch.tensor([float(halt), float(out_of_time)], device=device)
                halt = out_of_time = False
                if step % r.log_every == 0 or is_last or ckpt_due:
                    halt, out_of_time = (bool(f) for f in par.all_reduce(flags, op="max").tolist())
            metrics: dict[str, Any] = {}
            if step % r.log_every == 0 or is_last or halt or out_of_time:
                train_loss = float(par.all_reduce(loss_sum).item()) / par.world_size  # syncs: honest timing
                now = time.perf_counter()
                tokens_per_s = tokens_since_log / max(now - t_log, 1e-9)
                metrics = {
                    "time_s": round(elapsed, 3),
                    **_train_metrics(train_loss, grad_norm, lr, tokens_per_s, step, t.tokens),
                }
                if peak:
                    metrics["perf/mfu"] = metrics["perf/tokens_per_s"] * flops_per_token / (peak * par.world_size)
                t_log, tokens_since_log = now, 0
                progress.set_postfix(loss=f"{train_loss:.3f}", lr=f"{lr:.2e}")
            if step % r.eval_every == 0 or is_last or halt or out_of_time:
                last_eval = evaluate(step_model, val_tokens, cfg, device, par)
                metrics.update(
                    {"time_s": round(elapsed, 3), "eval/loss": last_eval, "eval/perplexity": _ppl(last_eval)}
                )
                t_log, tokens_since_log = time.perf_counter(), 0  # eval time is not training throughput
            if metrics:
                sinks.log(metrics, step)
            if par.world_size == 1:
                halt = bool(stop)  # a signal may have arrived during this step's logging
            if ckpt_due or is_last or halt or out_of_time:
                _save(ckpt_dir, step, t, cfg, par, elapsed)
                t_log, tokens_since_log = time.perf_counter(), 0
            if halt or out_of_time:
                status = "interrupted" if halt else "wall_clock"
                reason = stop.get("signal", "a signal on another rank") if halt else "max_wall_clock_s"
                logger.warning("stopping at step %d (%s)", step, reason)
                break
    progress.close()
    sinks.close()
    if math.isnan(last_eval):  # resumed a run that had already finished: report its loss again
        last_eval = evaluate(step_model, val_tokens, cfg, device, par)
    wall_s = elapsed_before + time.perf_counter() - t_start
    full_model = _full_model(cfg, t, par, device)
    summary = _finish(cfg, run_dir, full_model, step, t.tokens, status, last_eval, wall_s) if par.is_main else None
    summary = par.broadcast_object(summary)
    return TrainResult(run_dir=run_dir, step=step, status=status, summary=summary, is_main=par.is_main)


def _full_model(cfg: TrainConfig, t: _Trainee, par: Parallelism, device: torch.device) -> torch.nn.Module | None:
    """Collective. The trained model with full weights on rank 0 (for export and samples), None elsewhere."""
    full_state = par.full_state_dict(t.wrapped, t.model)
    if not par.is_main:
        return None
    if not t.layout:
        return t.model
    t.optimizer.state.clear()  # free the optimizer state before a second, unsharded copy of the model
    model = _build_model(cfg, device)
    model.load_state_dict(full_state)
    return model


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


def _finish(
    cfg: TrainConfig, run_dir: Path, model, step: int, tokens: int, status: str, eval_loss: float, wall_s: float
) -> dict:
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
        "tokens": tokens,
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
