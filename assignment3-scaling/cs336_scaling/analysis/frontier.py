"""Loss frontier L_opt(C) = E + A·C^-gamma fitted to the per-budget optimal losses (spec §3.2 extra, §5.8).

A pure power law k·C^-gamma has no irreducible term and extrapolates too low (2.86 instead of 3.28 at 1e23 on the
handout data); the E term fixes that. Fitted by least squares on log L over log-spaced starts, with C scaled by
1e18 so A stays O(1).
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

from cs336_scaling.errors import FitError

C_SCALE = 1e18


@dataclass(frozen=True)
class LossFrontier:
    E: float
    A: float  # in units of (C / 1e18)
    gamma: float

    def __call__(self, c: float | np.ndarray) -> float | np.ndarray:
        return self.E + self.A * np.power(np.asarray(c, dtype=float) / C_SCALE, -self.gamma)


def fit_loss_frontier(compute: Sequence[float], loss: Sequence[float]) -> LossFrontier:
    """Needs >= 4 budgets with finite, positive C and L; E is kept in [0, min L)."""
    c, y = np.asarray(compute, dtype=float), np.asarray(loss, dtype=float)
    if c.shape != y.shape or c.ndim != 1 or len(c) < 4:
        raise FitError(f"the loss frontier has 3 parameters and needs >= 4 budgets, got {len(c)}")
    if not (np.all(np.isfinite(c)) and np.all(np.isfinite(y))) or np.any(c <= 0) or np.any(y <= 0):
        raise FitError("compute and loss must be finite and > 0")
    x = c / C_SCALE

    def resid(theta: np.ndarray) -> np.ndarray:
        e, log_a, g = theta
        return np.log(e + np.exp(log_a) * x**-g) - np.log(y)

    best = None
    for e0 in np.linspace(0.0, 0.9, 4) * y.min():
        for g0 in (0.05, 0.15, 0.3, 0.6):
            a0 = max(1e-6, float(np.median(y)) - e0) * float(np.median(x)) ** g0
            bounds = ([0.0, -30.0, 1e-4], [float(y.min()) * (1 - 1e-9), 30.0, 3.0])
            res = least_squares(resid, [e0, math.log(a0), g0], bounds=bounds, xtol=1e-14, ftol=1e-14, gtol=1e-14)
            if best is None or res.cost < best.cost:
                best = res
    assert best is not None
    e, log_a, g = best.x
    return LossFrontier(E=float(e), A=float(math.exp(log_a)), gamma=float(g))
