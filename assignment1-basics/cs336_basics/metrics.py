"""Metric sinks, run directories and loss plots (style guide §2.5).

Sinks share torchtitan's two-method shape, `log(metrics, step)` and `close()`. `MetricsLogger` fans out to a JSONL
sink (always on), a console sink (every `log_every` steps) and either a wandb sink (imported lazily, only with
`--wandb`; `WANDB_MODE=offline` works without network) or a null sink. Plots are regenerated from `metrics.jsonl` by
`cs336-basics plot RUN_DIR`; training never depends on plotting.
"""

import datetime as dt
import json
import logging
import os
import platform
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

from cs336_basics.errors import BasicsError

logger = logging.getLogger(__name__)

METRICS_FILE = "metrics.jsonl"
PLOT_DIR = "plots"


class Sink(Protocol):
    def log(self, metrics: dict[str, Any], step: int) -> None: ...
    def close(self) -> None: ...


class NullSink:
    """Stands in for a disabled backend, so the training loop has no `if wandb:` branches."""

    def log(self, metrics: dict[str, Any], step: int) -> None:
        pass

    def close(self) -> None:
        pass


class JsonlSink:
    """One flat JSON object per line, always with `step` and `time_s`. Appends, so a resumed run continues the file."""

    def __init__(self, path: str | Path) -> None:
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def log(self, metrics: dict[str, Any], step: int) -> None:
        self._file.write(json.dumps({"step": step, **metrics}) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class ConsoleSink:
    """A one-line summary through `logging` every `every` steps (eval lines always)."""

    def __init__(self, every: int, write: Any = None) -> None:
        self.every = every
        self._write = write or logger.info

    def log(self, metrics: dict[str, Any], step: int) -> None:
        if step % self.every and "eval/loss" not in metrics:
            return
        parts = [f"step {step}"]
        for key, value in metrics.items():
            if key != "time_s":
                parts.append(f"{key} {value:.4g}" if isinstance(value, float) else f"{key} {value}")
        self._write(" | ".join(parts))

    def close(self) -> None:
        pass


class WandbSink:
    """Weights & Biases, imported only when asked for. Honors WANDB_MODE=offline (no network needed)."""

    def __init__(self, project: str, name: str, config: dict[str, Any], run_dir: Path) -> None:
        try:
            import wandb
        except ImportError as exc:
            raise BasicsError("--wandb needs the wandb package: install the extra `cs336-basics[wandb]`") from exc
        self._run = wandb.init(project=project, name=name, config=config, dir=str(run_dir))

    def log(self, metrics: dict[str, Any], step: int) -> None:
        self._run.log(metrics, step=step)

    def close(self) -> None:
        self._run.finish()


class MetricsLogger:
    """Fans each `log` out to every sink."""

    def __init__(self, sinks: Iterable[Sink]) -> None:
        self.sinks = list(sinks)

    def log(self, metrics: dict[str, Any], step: int) -> None:
        for sink in self.sinks:
            sink.log(metrics, step)

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()


# ---------------------------------------------------------------------------------------------------------------
# Run directories


def make_run_dir(out_dir: str | Path, name: str) -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir = Path(out_dir) / f"{stamp}-{name}"
    suffix = 1
    while run_dir.exists():
        suffix += 1
        run_dir = Path(out_dir) / f"{stamp}-{name}-{suffix}"
    run_dir.mkdir(parents=True)
    return run_dir


def _git(*args: str) -> str:
    try:
        out = subprocess.run(["git", *args], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def collect_env() -> dict[str, Any]:
    """Versions and hardware, recorded in env.json next to every run's numbers."""
    import torch

    env: dict[str, Any] = {
        "date_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "git_sha": _git("rev-parse", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cpu_count": os.cpu_count(),
        "gpu_count": torch.cuda.device_count() if torch.cuda.is_available() else 0,
        "gpu_name": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    try:
        import triton

        env["triton"] = triton.__version__
    except ImportError:
        env["triton"] = None
    return env


def write_json(path: str | Path, obj: Any) -> None:
    Path(path).write_text(json.dumps(obj, indent=2) + "\n", encoding="utf-8")


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    path = Path(run_dir) / METRICS_FILE
    if not path.is_file():
        raise BasicsError(f"no {METRICS_FILE} in {run_dir}")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# ---------------------------------------------------------------------------------------------------------------
# Plots


def plot_run(run_dir: str | Path) -> list[Path]:
    """Write plots/loss_vs_step.png and plots/loss_vs_time.png from metrics.jsonl; return their paths."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise BasicsError("plotting needs matplotlib: install the extra `cs336-basics[plot]`") from exc
    rows = read_metrics(run_dir)
    out_dir = Path(run_dir) / PLOT_DIR
    out_dir.mkdir(exist_ok=True)
    paths = []
    for x_key, x_label, file_name in (
        ("step", "step", "loss_vs_step.png"),
        ("time_s", "wall clock (s)", "loss_vs_time.png"),
    ):
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for y_key, label in (("train/loss", "train"), ("eval/loss", "validation")):
            points = [(r[x_key], r[y_key]) for r in rows if y_key in r and x_key in r]
            if points:
                xs, ys = zip(*points, strict=True)
                ax.plot(xs, ys, label=label, marker="o" if y_key == "eval/loss" else None, markersize=3)
        ax.set_xlabel(x_label)
        ax.set_ylabel("cross-entropy loss (nats/token)")
        ax.set_title(f"{Path(run_dir).name}: loss vs {x_label}")
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        path = out_dir / file_name
        fig.savefig(path, dpi=120)
        plt.close(fig)
        paths.append(path)
    return paths
