"""Plots of a user's API experiments: validation-loss curves and final loss vs N grouped by compute (C = 6·N·D).

uv run cs336-scaling plot --db scaling.db --user student --out out/plots
"""

from pathlib import Path

from cs336_scaling.api import TrainingConfig
from cs336_scaling.errors import DataError


def plot_experiments(experiments: list[dict], out_dir: str | Path) -> list[Path]:
    """`experiments` are `/experiments` rows (dicts). Writes `loss_curves.png` and `final_loss_vs_n.png`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [e for e in experiments if e["status"]["status_type"] == "completed" and e["status"].get("val_losses")]
    if not done:
        raise DataError("no completed experiments to plot")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for e in done:
        cfg = TrainingConfig.model_validate(e["training_config"])
        losses = e["status"]["val_losses"]
        tokens = [cfg.total_train_tokens * (i + 1) / len(losses) for i in range(len(losses))]
        ax.plot(tokens, losses, lw=1, alpha=0.7)
    ax.set_xscale("log")
    ax.set_xlabel("training tokens")
    ax.set_ylabel("validation loss (nats/token)")
    ax.set_title(f"validation curves of {len(done)} completed runs")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    curves = out / "loss_curves.png"
    fig.savefig(curves, dpi=110)
    plt.close(fig)

    groups: dict[float, list[tuple[float, float]]] = {}
    for e in done:
        cfg = TrainingConfig.model_validate(e["training_config"])
        n = cfg.architecture_config.non_embedding_params
        c = 6 * n * cfg.total_train_tokens
        key = float(f"{c:.1g}")  # runs of one IsoFLOP level share C to one significant digit
        groups.setdefault(key, []).append((n, e["status"]["val_losses"][-1]))
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for k, (c, pts) in enumerate(sorted(groups.items())):
        pts.sort()
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", ms=3, color=f"C{k % 10}", label=f"C ≈ {c:.0e}")
    ax.set_xscale("log")
    ax.set_xlabel("non-embedding parameters N")
    ax.set_ylabel("final validation loss")
    ax.set_title("final loss vs N, grouped by C = 6·N·D")
    ax.grid(True, which="both", alpha=0.3)
    if len(groups) <= 12:
        ax.legend(fontsize=7)
    fig.tight_layout()
    profile = out / "final_loss_vs_n.png"
    fig.savefig(profile, dpi=110)
    plt.close(fig)
    return [curves, profile]
