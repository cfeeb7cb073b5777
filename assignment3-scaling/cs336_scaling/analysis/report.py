"""The `cs336-scaling isoflops` study: approach 2 (argmin and parabola), bootstrap CIs, approach 3, table, JSON, PNGs.

uv run cs336-scaling isoflops --data ../shared/data/scaling/isoflops_curves.json --out out/isoflops
"""

import json
from dataclasses import dataclass
from pathlib import Path

from cs336_scaling.analysis.frontier import fit_loss_frontier
from cs336_scaling.analysis.isoflops import bootstrap_power_law, isoflops_scaling, load_isoflops
from cs336_scaling.analysis.parametric import fit_parametric
from cs336_scaling.analysis.plots import PREDICTION_BUDGETS, plot_isoflops


@dataclass(frozen=True, kw_only=True)
class IsoflopsStudyConfig:
    data: Path
    out_dir: Path
    methods: tuple[str, ...] = ("argmin", "parabola")
    window: int | None = None
    n_bootstrap: int = 2000
    level: float = 0.9
    seed: int = 0
    approach3: bool = True
    plots: bool = True


def run_isoflops_study(cfg: IsoflopsStudyConfig) -> dict:
    """Returns the JSON-able summary that is also written to `<out_dir>/isoflops.json`."""
    runs = load_isoflops(cfg.data)
    summary: dict = {"data": str(cfg.data), "n_runs": len(runs), "methods": {}}
    for method in cfg.methods:
        res = isoflops_scaling(runs, method, window=cfg.window)  # type: ignore[arg-type]
        cs = [p.compute_budget for p in res.points]
        bands = {
            "n": bootstrap_power_law(cs, [p.n for p in res.points], n=cfg.n_bootstrap, seed=cfg.seed, level=cfg.level),
            "d": bootstrap_power_law(cs, [p.d for p in res.points], n=cfg.n_bootstrap, seed=cfg.seed, level=cfg.level),
        }
        entry = {
            "points": [vars(p) for p in res.points],
            "n_law": {"coef": res.n_law.coef, "exponent": res.n_law.exponent, "exponent_ci": bands["n"].exponent_ci},
            "d_law": {"coef": res.d_law.coef, "exponent": res.d_law.exponent, "exponent_ci": bands["d"].exponent_ci},
            "predictions": {},
        }
        for c in PREDICTION_BUDGETS:
            n, d = res.predict(c)
            n_lo, n_hi = bands["n"].predict_ci(c)
            d_lo, d_hi = bands["d"].predict_ci(c)
            entry["predictions"][f"{c:.0e}"] = {
                "n": n, "n_ci": [float(n_lo[0]), float(n_hi[0])], "d": d, "d_ci": [float(d_lo[0]), float(d_hi[0])],
            }  # fmt: skip
        frontier = fit_loss_frontier(cs, [q.loss for q in res.points])
        entry["loss_frontier"] = {
            "E": frontier.E, "A_per_1e18": frontier.A, "gamma": frontier.gamma,
            "predictions": {f"{c:.0e}": float(frontier(c)) for c in PREDICTION_BUDGETS},
        }  # fmt: skip
        if cfg.plots:
            entry["plots"] = [str(p) for p in plot_isoflops(res, cfg.out_dir, bands=bands)]
        summary["methods"][method] = entry
    if cfg.approach3:
        law = fit_parametric([r.parameters for r in runs], [r.tokens for r in runs], [r.final_loss for r in runs])
        summary["approach3"] = {
            "E": law.E, "A": law.A, "B": law.B, "alpha": law.alpha, "beta": law.beta, "n_exponent": law.n_exponent,
            "predictions": {f"{c:.0e}": dict(zip(("n", "d", "loss"), law.optimum(c))) for c in PREDICTION_BUDGETS},
        }  # fmt: skip
    cfg.out_dir.mkdir(parents=True, exist_ok=True)
    (cfg.out_dir / "isoflops.json").write_text(json.dumps(summary, indent=2))
    return summary


def format_table(summary: dict) -> str:
    """Markdown tables: per-budget optima, then laws and predictions per method."""
    lines = ["| method | C | N_opt | D_opt | loss |", "|---|---:|---:|---:|---:|"]
    for method, entry in summary["methods"].items():
        for p in entry["points"]:
            lines.append(f"| {method} | {p['compute_budget']:.3g} | {p['n']:.4g} | {p['d']:.4g} | {p['loss']:.4f} |")
    lines += [
        "",
        "| method | N_opt law | 90% CI of a | N(1e23) | N(1e24) | D(1e23) | D(1e24) |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for method, e in summary["methods"].items():
        lo, hi = e["n_law"]["exponent_ci"]
        pr = e["predictions"]
        lines.append(
            f"| {method} | {e['n_law']['coef']:.4g}·C^{e['n_law']['exponent']:.5f} | [{lo:.3f}, {hi:.3f}] | "
            f"{pr['1e+23']['n']:.4g} | {pr['1e+24']['n']:.4g} | {pr['1e+23']['d']:.4g} | {pr['1e+24']['d']:.4g} |"
        )
    if "approach3" in summary:
        a3 = summary["approach3"]
        pr = a3["predictions"]
        lines.append(
            f"| approach 3 | a = β/(α+β) = {a3['n_exponent']:.5f} | – | {pr['1e+23']['n']:.4g} "
            f"| {pr['1e+24']['n']:.4g} "
            f"| {pr['1e+23']['d']:.4g} | {pr['1e+24']['d']:.4g} |"
        )
        lines.append(f"\napproach 3 optimal loss: {pr['1e+23']['loss']:.4f} at 1e23, {pr['1e+24']['loss']:.4f} at 1e24")
    for method, e in summary["methods"].items():
        fr = e["loss_frontier"]
        lines.append(
            f"\n{method} loss frontier L_opt(C) = {fr['E']:.4f} + {fr['A_per_1e18']:.4g}·(C/1e18)^-{fr['gamma']:.4f}: "
            f"{fr['predictions']['1e+23']:.4f} at 1e23, {fr['predictions']['1e+24']:.4f} at 1e24"
        )
    return "\n".join(lines)
