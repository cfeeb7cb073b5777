"""IsoFLOPs analysis, Chinchilla approach 2 (handout problem `chinchilla_isoflops`; spec §3).

    uv run cs336-scaling isoflops --data ../shared/data/scaling/isoflops_curves.json --method parabola --out out/

Per compute budget C the optimal model size N_opt is taken either as the lowest-loss run (`argmin`, the handout's
suggestion) or as the vertex of a quadratic fitted to loss against **log N** (Hoffmann et al.). The vertex is only
trusted when the curvature is positive and it lies inside the sampled N range; otherwise a FitError says so (widen
the sweep). D_opt = C / (6 N_opt). Power laws y = coef * C^exponent are fitted by least squares on (log C, log y),
never in linear space, where the largest budgets would dominate (spec §5.1).
"""

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from cs336_scaling.errors import DataError, FitError

Method = Literal["argmin", "parabola"]
FLOPS_PER_PARAM_TOKEN = 6.0


@dataclass(frozen=True)
class IsoRun:
    parameters: int
    compute_budget: float
    final_loss: float

    @property
    def tokens(self) -> float:
        """Dataset size implied by C = 6 N D."""
        return self.compute_budget / (FLOPS_PER_PARAM_TOKEN * self.parameters)


@dataclass(frozen=True)
class Optimum:
    n: float
    loss: float


@dataclass(frozen=True)
class BudgetOptimum:
    compute_budget: float
    n: float
    d: float
    loss: float


def _finite_positive(name: str, value: object, index: int) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DataError(f"run {index}: {name} must be a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v) or v <= 0:
        raise DataError(f"run {index}: {name} must be finite and > 0, got {value!r}")
    return v


def runs_from_records(records: Sequence[dict]) -> list[IsoRun]:
    """Validate a list of `{parameters, compute_budget, final_loss}` dicts (NaN/inf/missing keys -> DataError)."""
    runs = []
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            raise DataError(f"run {i}: expected an object, got {type(rec).__name__}")
        missing = {"parameters", "compute_budget", "final_loss"} - rec.keys()
        if missing:
            raise DataError(f"run {i}: missing key(s) {sorted(missing)}")
        n = _finite_positive("parameters", rec["parameters"], i)
        c = _finite_positive("compute_budget", rec["compute_budget"], i)
        loss = _finite_positive("final_loss", rec["final_loss"], i)
        runs.append(IsoRun(parameters=int(round(n)), compute_budget=c, final_loss=loss))
    if not runs:
        raise DataError("no runs given")
    return runs


def load_isoflops(path: str | Path) -> list[IsoRun]:
    """Read the handout's `isoflops_curves.json` (a JSON array of run objects)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"IsoFLOPs file not found: {path}")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DataError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a JSON array of runs, got {type(data).__name__}")
    return runs_from_records(data)


def profiles(runs: Sequence[IsoRun]) -> dict[float, list[IsoRun]]:
    """Group runs by compute budget (ascending), each profile sorted by N."""
    groups: dict[float, list[IsoRun]] = {}
    for run in runs:
        groups.setdefault(run.compute_budget, []).append(run)
    return {c: sorted(groups[c], key=lambda r: r.parameters) for c in sorted(groups)}


def optimum_argmin(profile: Sequence[IsoRun]) -> Optimum:
    """The lowest-loss run of one budget (as fine as the N grid: up to ±25% off with 1.6x spacing)."""
    if not profile:
        raise FitError("empty profile")
    best = min(profile, key=lambda r: r.final_loss)
    return Optimum(n=float(best.parameters), loss=best.final_loss)


def optimum_parabola(profile: Sequence[IsoRun], *, window: int | None = None) -> Optimum:
    """Vertex of loss = a (log N)^2 + b log N + c, fitted on the `window` runs centred on the argmin (all if None).

    Raises FitError when there are < 3 distinct sizes, the curvature is not positive (the profile is not U-shaped),
    or the vertex falls outside the sampled log-N range (the sweep does not bracket the optimum).
    """
    runs = sorted(profile, key=lambda r: r.parameters)
    budget = runs[0].compute_budget if runs else float("nan")
    if window is not None:
        if window < 3:
            raise FitError(f"parabola window must be >= 3 points, got {window}")
        i_min = min(range(len(runs)), key=lambda i: runs[i].final_loss)
        lo = max(0, min(i_min - window // 2, len(runs) - window))
        runs = runs[lo : lo + window]
    log_n = np.log([r.parameters for r in runs])
    if len(np.unique(log_n)) < 3:
        raise FitError(f"budget {budget:.3g}: a parabola needs >= 3 distinct model sizes, got {len(np.unique(log_n))}")
    loss = np.array([r.final_loss for r in runs])
    center = log_n.mean()
    a, b, c = np.polyfit(log_n - center, loss, 2)
    if not a > 0:
        raise FitError(
            f"budget {budget:.3g}: loss vs log N is not convex (curvature {a:.3g} <= 0); no interior optimum"
        )
    x_v = -b / (2 * a)
    if not (log_n.min() <= x_v + center <= log_n.max()):
        raise FitError(
            f"budget {budget:.3g}: parabola vertex N={math.exp(x_v + center):.3g} lies outside the sampled range "
            f"[{math.exp(log_n.min()):.3g}, {math.exp(log_n.max()):.3g}]; widen the sweep"
        )
    return Optimum(n=float(math.exp(x_v + center)), loss=float(c - b * b / (4 * a)))


@dataclass(frozen=True)
class PowerLaw:
    """y = coef * x ** exponent, fitted in log space; resid_std is the std of log-residuals (natural log)."""

    coef: float
    exponent: float
    resid_std: float = 0.0

    def __call__(self, x: float | np.ndarray) -> float | np.ndarray:
        return self.coef * np.power(x, self.exponent)


def _check_xy(x: Sequence[float], y: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    xa, ya = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if xa.shape != ya.shape or xa.ndim != 1:
        raise FitError(f"x and y must be 1-D of equal length, got shapes {xa.shape} and {ya.shape}")
    if not (np.all(np.isfinite(xa)) and np.all(np.isfinite(ya))):
        raise FitError("x and y must be finite (found NaN or inf)")
    if np.any(xa <= 0) or np.any(ya <= 0):
        raise FitError("a power law is fitted in log space: x and y must be > 0")
    if len(np.unique(xa)) < 2:
        raise FitError(f"a power law needs >= 2 distinct x values (compute budgets), got {len(np.unique(xa))}")
    return xa, ya


def fit_power_law(x: Sequence[float], y: Sequence[float]) -> PowerLaw:
    """Least squares of log y on log x (x is centred internally so the intercept stays well conditioned)."""
    xa, ya = _check_xy(x, y)
    lx, ly = np.log(xa), np.log(ya)
    mx = lx.mean()
    slope, intercept = np.polyfit(lx - mx, ly, 1)
    resid = ly - (intercept + slope * (lx - mx))
    dof = max(1, len(lx) - 2)
    return PowerLaw(
        coef=float(math.exp(intercept - slope * mx)),
        exponent=float(slope),
        resid_std=float(np.sqrt(resid @ resid / dof)),
    )


@dataclass(frozen=True)
class BootstrapPowerLaw:
    law: PowerLaw
    exponents: np.ndarray
    log_coefs: np.ndarray
    level: float

    @property
    def exponent_ci(self) -> tuple[float, float]:
        q = (1 - self.level) / 2
        return float(np.quantile(self.exponents, q)), float(np.quantile(self.exponents, 1 - q))

    def predict_ci(self, x: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pointwise percentile band of the bootstrap fits at x."""
        lx = np.log(np.atleast_1d(np.asarray(x, dtype=float)))
        preds = self.log_coefs[:, None] + self.exponents[:, None] * lx[None, :]
        q = (1 - self.level) / 2
        return np.exp(np.quantile(preds, q, axis=0)), np.exp(np.quantile(preds, 1 - q, axis=0))


def bootstrap_power_law(
    x: Sequence[float], y: Sequence[float], *, n: int = 2000, seed: int = 0, level: float = 0.9
) -> BootstrapPowerLaw:
    """Resample (x, y) points with replacement; resamples with < 2 distinct x are redrawn."""
    xa, ya = _check_xy(x, y)
    if n < 10:
        raise FitError(f"bootstrap needs n >= 10 resamples, got {n}")
    if not 0 < level < 1:
        raise FitError(f"confidence level must be in (0, 1), got {level}")
    law = fit_power_law(xa, ya)
    rng = np.random.default_rng(seed)
    lx, ly = np.log(xa), np.log(ya)
    exps, coefs = [], []
    while len(exps) < n:
        idx = rng.integers(0, len(xa), size=len(xa))
        if len(np.unique(lx[idx])) < 2:
            continue
        slope, intercept = np.polyfit(lx[idx], ly[idx], 1)
        exps.append(slope)
        coefs.append(intercept)
    return BootstrapPowerLaw(law=law, exponents=np.array(exps), log_coefs=np.array(coefs), level=level)


@dataclass(frozen=True)
class IsoflopsResult:
    method: str
    points: list[BudgetOptimum]
    n_law: PowerLaw
    d_law: PowerLaw

    def predict(self, compute_budget: float) -> tuple[float, float]:
        """(N_opt, D_opt) at a compute budget."""
        return float(self.n_law(compute_budget)), float(self.d_law(compute_budget))


def isoflops_scaling(runs: Sequence[IsoRun], method: Method = "argmin", *, window: int | None = None) -> IsoflopsResult:
    """Approach 2 end to end: per-budget optima, then N_opt(C) and D_opt(C) power laws."""
    finders: dict[str, Callable[[Sequence[IsoRun]], Optimum]] = {
        "argmin": optimum_argmin,
        "parabola": lambda p: optimum_parabola(p, window=window),
    }
    if method not in finders:
        raise FitError(f"unknown method {method!r}; expected one of {sorted(finders)}")
    groups = profiles(runs)
    if len(groups) < 2:
        raise FitError(f"need >= 2 compute budgets to fit a scaling law, got {len(groups)}")
    points = []
    for c, prof in groups.items():
        opt = finders[method](prof)
        points.append(BudgetOptimum(compute_budget=c, n=opt.n, d=c / (FLOPS_PER_PARAM_TOKEN * opt.n), loss=opt.loss))
    cs = [p.compute_budget for p in points]
    return IsoflopsResult(
        method=method,
        points=points,
        n_law=fit_power_law(cs, [p.n for p in points]),
        d_law=fit_power_law(cs, [p.d for p in points]),
    )
