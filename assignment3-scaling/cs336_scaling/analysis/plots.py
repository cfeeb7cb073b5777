"""Log-log plots of N_opt(C) and D_opt(C) with fitted power laws, bootstrap bands and extrapolation (spec §3.2).

uv run cs336-scaling isoflops --data ../shared/data/scaling/isoflops_curves.json --out out/
"""

from pathlib import Path

import numpy as np

from cs336_scaling.analysis.isoflops import BootstrapPowerLaw, IsoflopsResult

PREDICTION_BUDGETS = (1e23, 1e24)


def plot_isoflops(
    result: IsoflopsResult,
    out_dir: str | Path,
    *,
    extrapolate_to: float = 1e24,
    bands: dict[str, BootstrapPowerLaw] | None = None,
) -> list[Path]:
    """Write `n_opt_<method>.png` and `d_opt_<method>.png`; returns their paths. `bands` maps "n"/"d" to bootstraps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cs = np.array([p.compute_budget for p in result.points])
    grid = np.logspace(np.log10(cs.min()), np.log10(max(extrapolate_to, cs.max())), 200)
    paths = []
    for key, law, values, label in (
        ("n", result.n_law, [p.n for p in result.points], "parameters N_opt"),
        ("d", result.d_law, [p.d for p in result.points], "tokens D_opt"),
    ):
        fig, ax = plt.subplots(figsize=(6.4, 4.4))
        ax.loglog(cs, values, "o", color="C0", label=f"per-budget optimum ({result.method})")
        ax.loglog(grid, law(grid), "-", color="C1", label=f"fit: {law.coef:.4g}·C^{law.exponent:.4f}")
        if bands and key in bands:
            lo, hi = bands[key].predict_ci(grid)
            ax.fill_between(grid, lo, hi, color="C1", alpha=0.2, label=f"{bands[key].level:.0%} bootstrap band")
        ax.axvspan(cs.max(), grid.max(), color="grey", alpha=0.08, label="extrapolation")
        for c in PREDICTION_BUDGETS:
            if c <= grid.max():
                y = float(law(c))
                ax.plot([c], [y], "s", color="C3")
                ax.annotate(f"{y:.3g} @ {c:.0e}", (c, y), textcoords="offset points", xytext=(-70, 8), fontsize=8)
        ax.set_xlabel("compute budget C (FLOPs)")
        ax.set_ylabel(label)
        ax.set_title(f"IsoFLOPs approach 2: {label} vs C")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
        fig.tight_layout()
        path = out / f"{key}_opt_{result.method}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths
