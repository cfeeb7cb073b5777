"""Chinchilla approach 3: fit L(N, D) = E + A / N^alpha + B / D^beta (Hoffmann et al. 2022, §3.3; spec §3.2).

    from cs336_scaling.analysis import fit_parametric
    law = fit_parametric(N, D, L)            # then law.optimum(1e23) -> (N_opt, D_opt, L_opt)

The fit minimises a Huber loss between log L and LSE(a - alpha log N, b - beta log D, e), with A = e^a, B = e^b,
E = e^e, by L-BFGS-B with an analytic gradient. The problem is ill-conditioned (A and alpha trade off), so it is
started from a grid of initial values; the grid is screened by objective value and the best `n_starts` points are
refined. Check the result against the approach-2 estimates.
"""

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from cs336_scaling.errors import FitError

GRID_ALPHA = (0.1, 0.3, 0.6, 1.0)
GRID_E = (-1.0, 0.0, 1.0, 1.5)
GRID_LOG_AB = (0.0, 4.0, 8.0, 12.0, 16.0)


@dataclass(frozen=True)
class ParametricLaw:
    E: float
    A: float
    B: float
    alpha: float
    beta: float
    objective: float = 0.0

    def loss(self, n: float | np.ndarray, d: float | np.ndarray) -> float | np.ndarray:
        return self.E + self.A * np.power(n, -self.alpha) + self.B * np.power(d, -self.beta)

    @property
    def n_exponent(self) -> float:
        """a in N_opt ∝ C^a, equal to beta / (alpha + beta)."""
        return self.beta / (self.alpha + self.beta)

    def optimum(self, compute_budget: float) -> tuple[float, float, float]:
        """(N_opt, D_opt, L_opt) under C = 6 N D, in closed form: N_opt = G (C/6)^(beta/(alpha+beta))."""
        g = (self.alpha * self.A / (self.beta * self.B)) ** (1.0 / (self.alpha + self.beta))
        n = g * (compute_budget / 6.0) ** self.n_exponent
        d = compute_budget / (6.0 * n)
        return float(n), float(d), float(self.loss(n, d))


def _objective(theta: np.ndarray, log_n: np.ndarray, log_d: np.ndarray, log_l: np.ndarray, delta: float):
    a, b, e, alpha, beta = theta
    terms = np.stack([a - alpha * log_n, b - beta * log_d, np.full_like(log_n, e)])
    m = terms.max(axis=0)
    ex = np.exp(terms - m)
    s = ex.sum(axis=0)
    pred = m + np.log(s)
    w = ex / s
    r = pred - log_l
    absr = np.abs(r)
    quad = absr <= delta
    value = np.where(quad, 0.5 * r * r, delta * (absr - 0.5 * delta)).sum()
    dr = np.where(quad, r, delta * np.sign(r))
    grad = np.array(
        [
            (dr * w[0]).sum(),
            (dr * w[1]).sum(),
            (dr * w[2]).sum(),
            -(dr * w[0] * log_n).sum(),
            -(dr * w[1] * log_d).sum(),
        ]
    )
    return value, grad


def fit_parametric(
    n: Sequence[float],
    d: Sequence[float],
    loss: Sequence[float],
    *,
    huber_delta: float = 1e-3,
    n_starts: int = 24,
) -> ParametricLaw:
    """Multi-start Huber fit in log space. Needs >= 5 points with finite, positive N, D and L."""
    na, da, la = (np.asarray(v, dtype=float) for v in (n, d, loss))
    if not (na.shape == da.shape == la.shape) or na.ndim != 1:
        raise FitError(f"N, D and L must be 1-D of equal length, got {na.shape}, {da.shape}, {la.shape}")
    if len(na) < 5:
        raise FitError(f"approach 3 has 5 parameters and needs >= 5 runs, got {len(na)}")
    for name, arr in (("N", na), ("D", da), ("L", la)):
        if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
            raise FitError(f"{name} must be finite and > 0 (found NaN, inf or a non-positive value)")
    if huber_delta <= 0:
        raise FitError(f"huber_delta must be > 0, got {huber_delta}")
    log_n, log_d, log_l = np.log(na), np.log(da), np.log(la)
    args = (log_n, log_d, log_l, huber_delta)
    grid = [
        np.array([a, b, e, al, be])
        for a, b, e, al, be in itertools.product(GRID_LOG_AB, GRID_LOG_AB, GRID_E, GRID_ALPHA, GRID_ALPHA)
    ]
    grid.sort(key=lambda th: _objective(th, *args)[0])
    bounds = [(-10, 40), (-10, 40), (-5, 5), (1e-3, 3.0), (1e-3, 3.0)]
    best = None
    for theta0 in grid[: max(1, n_starts)]:
        res = minimize(
            _objective, theta0, args=args, jac=True, method="L-BFGS-B", bounds=bounds,
            options={"maxiter": 5000, "ftol": 1e-16, "gtol": 1e-13},
        )  # fmt: skip
        if best is None or res.fun < best.fun:
            best = res
    assert best is not None
    a, b, e, alpha, beta = best.x
    if not np.all(np.isfinite(best.x)):
        raise FitError("approach-3 fit did not converge to finite parameters")
    return ParametricLaw(
        E=math.exp(e), A=math.exp(a), B=math.exp(b), alpha=float(alpha), beta=float(beta), objective=float(best.fun)
    )
