"""Approach 3 recovers a known L(N, D) from noise-free and noisy synthetic data (spec §3.2, §5.8)."""

import numpy as np
import pytest

from cs336_scaling.analysis import fit_parametric
from cs336_scaling.errors import FitError
from tests.unit.analysis.test_isoflops import synthetic_runs, true_law

CASES = [
    {"E": 1.8, "A": 500.0, "B": 2000.0, "alpha": 0.32, "beta": 0.30},
    {"E": 2.69, "A": 1606.4, "B": 3210.7, "alpha": 0.34, "beta": 0.36},
    {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28},
]


@pytest.mark.parametrize("p", CASES, ids=lambda p: f"alpha{p['alpha']}-beta{p['beta']}")
def test_recovers_parameters_from_exact_data(p: dict) -> None:
    runs = synthetic_runs(p=p)
    n = np.array([r.parameters for r in runs], dtype=float)
    d = np.array([r.tokens for r in runs])
    law = fit_parametric(n, d, true_law(n, d, p))
    for key in ("E", "A", "B", "alpha", "beta"):
        assert getattr(law, key) == pytest.approx(p[key], rel=1e-3), key  # stated tolerance 1e-3 relative


def test_noisy_data_gives_close_exponent_and_optimum() -> None:
    p = CASES[0]
    runs = synthetic_runs(p=p)
    n = np.array([r.parameters for r in runs], dtype=float)
    d = np.array([r.tokens for r in runs])
    rng = np.random.default_rng(0)
    loss = true_law(n, d, p) * np.exp(rng.normal(0, 0.002, size=n.shape))
    law = fit_parametric(n, d, loss)
    a_true = p["beta"] / (p["alpha"] + p["beta"])
    assert law.n_exponent == pytest.approx(a_true, abs=0.03)
    n_opt, d_opt, l_opt = law.optimum(1e21)
    assert n_opt * d_opt * 6 == pytest.approx(1e21, rel=1e-9)
    assert l_opt == pytest.approx(float(true_law(np.array(n_opt), np.array(d_opt), p)), abs=0.02)


def test_optimum_is_the_numerical_minimum() -> None:
    p = CASES[1]
    runs = synthetic_runs(p=p)
    n = np.array([r.parameters for r in runs], dtype=float)
    d = np.array([r.tokens for r in runs])
    law = fit_parametric(n, d, true_law(n, d, p))
    c = 1e22
    n_opt, _, l_opt = law.optimum(c)
    grid = n_opt * np.geomspace(0.5, 2, 201)
    assert l_opt <= law.loss(grid, c / (6 * grid)).min() + 1e-12


def test_bad_inputs() -> None:
    with pytest.raises(FitError, match=">= 5 runs"):
        fit_parametric([1e8] * 4, [1e9] * 4, [3.0] * 4)
    with pytest.raises(FitError, match="finite and > 0"):
        fit_parametric([1e8, 2e8, 3e8, 4e8, np.nan], [1e9] * 5, [3.0] * 5)
    with pytest.raises(FitError, match="equal length"):
        fit_parametric([1e8] * 5, [1e9] * 6, [3.0] * 5)
    with pytest.raises(FitError, match="huber_delta"):
        fit_parametric([1e8, 2e8, 3e8, 4e8, 5e8], [1e9] * 5, [3.0] * 5, huber_delta=0)
