"""Run directories and metric sinks (style guide §2.5): JSONL always, console every `log_every`, wandb on request.

`MetricsLogger.log(metrics, step)` fans out to every sink; `close()` flushes. wandb is imported lazily, only with
`--wandb`, and gets separate `train_step` / `eval_step` axes (`train/*` and `eval/*` globs), as the handout asks.
"""

import json
import logging
import math
import platform
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from cs336_alignment.errors import AlignmentError

logger = logging.getLogger(__name__)


def make_run_dir(out_dir: str | Path, name: str) -> Path:
    """`<out_dir>/<yyyymmdd-HHMMSS>-<name>/` (a numeric suffix keeps two runs started in one second apart)."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    base = Path(out_dir) / f"{stamp}-{name}"
    path, k = base, 1
    while path.exists():
        path, k = Path(f"{base}-{k}"), k + 1
    path.mkdir(parents=True)
    return path


def env_info() -> dict[str, Any]:
    """git SHA and dirty flag, versions, device: written to env.json next to every run's metrics."""

    def _git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    info = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_sha": _git("rev-parse", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain")),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "gpu_count": torch.cuda.device_count() if torch.cuda.is_available() else 0,
        "host_cpus": __import__("os").cpu_count(),
    }
    try:
        import transformers

        info["transformers"] = transformers.__version__
    except ImportError:
        pass
    return info


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")


def _clean(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        value = value.item() if value.numel() == 1 else value.tolist()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no NaN/inf; keep them visible rather than dropping them
    return value


class JSONLSink:
    def __init__(self, path: Path) -> None:
        self._file = path.open("a", encoding="utf-8")

    def log(self, metrics: dict[str, Any], step: int) -> None:
        self._file.write(json.dumps({k: _clean(v) for k, v in metrics.items()}) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class ConsoleSink:
    def __init__(self, every: int) -> None:
        self.every = max(1, every)

    def log(self, metrics: dict[str, Any], step: int) -> None:
        if step % self.every == 0 or any(k.startswith("eval/") for k in metrics):
            shown = {k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in metrics.items() if k != "time_s"}
            logger.info("step %d %s", step, " ".join(f"{k}={v}" for k, v in shown.items() if k != "step"))

    def close(self) -> None:
        pass


class WandbSink:
    def __init__(self, project: str, name: str, config: dict[str, Any]) -> None:
        try:
            import wandb
        except ImportError as exc:
            raise AlignmentError("--wandb needs the optional extra: uv sync --extra wandb") from exc
        self._run = wandb.init(project=project, name=name, config=config)
        self._run.define_metric("train_step")
        self._run.define_metric("eval_step")
        self._run.define_metric("train/*", step_metric="train_step")
        self._run.define_metric("eval/*", step_metric="eval_step")

    def log(self, metrics: dict[str, Any], step: int) -> None:
        data = {k: _clean(v) for k, v in metrics.items() if isinstance(_clean(v), int | float)}
        data["train_step" if not any(k.startswith("eval/") for k in metrics) else "eval_step"] = step
        self._run.log(data)

    def close(self) -> None:
        self._run.finish()


class MetricsLogger:
    """Fans `log(metrics, step)` out to its sinks; adds `step` and `time_s` (seconds since the logger started)."""

    def __init__(self, sinks: list[Any]) -> None:
        self.sinks = sinks
        self.start = time.perf_counter()

    @classmethod
    def for_run(cls, run_dir: Path, log_every: int, use_wandb: bool, project: str, config: dict) -> "MetricsLogger":
        sinks: list[Any] = [JSONLSink(run_dir / "metrics.jsonl"), ConsoleSink(log_every)]
        if use_wandb:
            sinks.append(WandbSink(project, run_dir.name, config))
        return cls(sinks)

    def log(self, metrics: dict[str, Any], step: int) -> None:
        row = {"step": step, "time_s": round(time.perf_counter() - self.start, 3), **metrics}
        for sink in self.sinks:
            sink.log(row, step)

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """Rows of a metrics.jsonl (the plot command and tests read it)."""
    if not path.is_file():
        raise AlignmentError(f"no metrics file at {path}")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
