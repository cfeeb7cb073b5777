"""Curves of a run from its metrics.jsonl: reward, validation accuracy, entropy, response length, grad norm vs step.

cs336-alignment plot runs/<run>
"""

from pathlib import Path

from cs336_alignment.metrics import read_metrics

PANELS = (
    ("eval/answer_accuracy", "validation answer accuracy"),
    ("pretrain/loss", "pretrain loss (nats/token)"),
    ("eval/format_accuracy", "validation format accuracy"),
    ("train/reward", "train reward (rollouts)"),
    ("train/rollout_reward", "EI rollout reward"),
    ("train/token_entropy", "token entropy (nats)"),
    ("train/mean_response_tokens", "mean response length (tokens)"),
    ("train/loss", "train loss"),
    ("train/grad_norm", "grad norm (pre-clip)"),
    ("train/clip_fraction", "clip fraction"),
)


def plot_run(run_dir: str | Path) -> list[Path]:
    """One PNG per metric that the run logged, plus an overview grid; returns the written paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run_dir = Path(run_dir)
    rows = read_metrics(run_dir / "metrics.jsonl")
    out_dir = run_dir / "plots"
    out_dir.mkdir(exist_ok=True)
    present = [(k, label) for k, label in PANELS if any(isinstance(r.get(k), int | float) for r in rows)]
    written = []
    if not present:
        return written
    cols = 3
    fig, axes = plt.subplots(-(-len(present) // cols), cols, figsize=(5 * cols, 3.2 * -(-len(present) // cols)))
    for ax, (key, label) in zip(axes.flat if hasattr(axes, "flat") else [axes], present):
        pts = [(r["step"], r[key]) for r in rows if isinstance(r.get(key), int | float)]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="." if len(pts) < 50 else None)
        ax.set_xlabel("optimizer step")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(present) :] if hasattr(axes, "flat") else []:
        ax.axis("off")
    fig.suptitle(run_dir.name)
    fig.tight_layout()
    path = out_dir / "overview.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    written.append(path)
    return written


STAGE_COLORS = {"pretrain": "tab:gray", "sft": "tab:blue", "ei": "tab:orange", "grpo": "tab:green"}
PIPELINE_PANELS = (
    ("eval/answer_accuracy", "validation answer accuracy", ("sft", "ei", "grpo")),
    ("eval/format_accuracy", "validation format accuracy", ("sft", "ei", "grpo")),
    ("train/reward", "GRPO rollout reward", ("grpo",)),
    ("train/token_entropy", "response token entropy (nats)", ("sft", "ei", "grpo")),
    ("train/mean_response_tokens", "mean rollout length (tokens)", ("ei", "grpo")),
    ("pretrain/loss", "pretrain loss (nats/token)", ("pretrain",)),
)


def plot_pipeline(root: str | Path, summary: dict) -> Path | None:
    """One PNG (`curves.png`) for a mini-A5 run: every stage's validation curves against its optimizer step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    root = Path(root)
    stage_dirs = {"pretrain": root / "pretrain"}
    for stage in ("sft", "ei", "grpo"):
        if stage in summary:
            stage_dirs[stage] = Path(summary[stage]["run_dir"])
    rows = {
        stage: read_metrics(d / "metrics.jsonl") for stage, d in stage_dirs.items() if (d / "metrics.jsonl").is_file()
    }
    if not rows:
        return None
    fig, axes = plt.subplots(2, 3, figsize=(15, 7.5))
    for ax, (key, label, stages) in zip(axes.flat, PIPELINE_PANELS):
        for stage in stages:
            pts = [(r["step"], r[key]) for r in rows.get(stage, []) if isinstance(r.get(key), int | float)]
            if pts:
                marker = "." if len(pts) < 60 else None
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=marker, label=stage, color=STAGE_COLORS[stage])
        ax.set_xlabel("optimizer step (per stage)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.suptitle(f"mini-A5: {root.name}")
    fig.tight_layout()
    path = root / "curves.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
