"""Approach 2 on synthetic IsoFLOPs data from a known L(N, D), and clear errors on degenerate input (spec §3)."""

import json
import math

import numpy as np
import pytest

from cs336_scaling.analysis import (
    IsoRun,
    bootstrap_power_law,
    fit_power_law,
    isoflops_scaling,
    load_isoflops,
    optimum_argmin,
    optimum_parabola,
    profiles,
)
from cs336_scaling.errors import DataError, FitError

TRUE = {"E": 1.8, "A": 500.0, "B": 2000.0, "alpha": 0.32, "beta": 0.30}


def true_law(n: np.ndarray, d: np.ndarray, p: dict = TRUE) -> np.ndarray:
    return p["E"] + p["A"] * n ** -p["alpha"] + p["B"] * d ** -p["beta"]


def true_n_opt(c: float, p: dict = TRUE) -> float:
    g = (p["alpha"] * p["A"] / (p["beta"] * p["B"])) ** (1 / (p["alpha"] + p["beta"]))
    return g * (c / 6) ** (p["beta"] / (p["alpha"] + p["beta"]))


def synthetic_runs(budgets=(1e18, 3e18, 1e19, 3e19, 1e20, 3e20), sizes: int = 9, spacing: float = 1.3, p=TRUE):
    runs = []
    for c in budgets:
        center = true_n_opt(c, p)
        for k in range(sizes):
            n = center * spacing ** (k - (sizes - 1) / 2 + 0.37)  # off-centre grid: the argmin is not the optimum
            runs.append(IsoRun(int(n), c, float(true_law(np.array(n), np.array(c / (6 * int(n))), p))))
    return runs


def test_parabola_recovers_true_exponent() -> None:
    res = isoflops_scaling(synthetic_runs(), "parabola")
    a_true = TRUE["beta"] / (TRUE["alpha"] + TRUE["beta"])
    assert res.n_law.exponent == pytest.approx(a_true, abs=0.005)  # stated tolerance ±0.005
    assert res.d_law.exponent == pytest.approx(1 - a_true, abs=0.005)
    assert res.n_law.exponent + res.d_law.exponent == pytest.approx(1.0, abs=1e-9)  # D = C / (6 N)
    n_pred = res.n_law(1e23)
    assert abs(n_pred / true_n_opt(1e23) - 1) < 0.05  # prediction within 5% after 300x extrapolation


def test_argmin_is_grid_limited_but_close() -> None:
    res = isoflops_scaling(synthetic_runs(spacing=1.15, sizes=15), "argmin")
    a_true = TRUE["beta"] / (TRUE["alpha"] + TRUE["beta"])
    assert res.n_law.exponent == pytest.approx(a_true, abs=0.03)
    for pt in res.points:
        assert abs(math.log(pt.n / true_n_opt(pt.compute_budget))) < math.log(1.15)  # within one grid step


def test_parabola_window_uses_points_near_minimum() -> None:
    runs = synthetic_runs(sizes=11, spacing=1.5)
    full = isoflops_scaling(runs, "parabola")
    local = isoflops_scaling(runs, "parabola", window=5)
    a_true = TRUE["beta"] / (TRUE["alpha"] + TRUE["beta"])
    assert abs(local.n_law.exponent - a_true) < abs(full.n_law.exponent - a_true) + 1e-4


def test_power_law_fit_is_in_log_space() -> None:
    x = np.array([1e18, 1e19, 1e20, 1e21])
    y = 0.5 * x**0.48 * np.exp([0.01, -0.02, 0.015, -0.005])
    law = fit_power_law(x, y)
    slope, icpt = np.polyfit(np.log(x), np.log(y), 1)  # independent oracle
    assert law.exponent == pytest.approx(slope, rel=1e-9)
    assert math.log(law.coef) == pytest.approx(icpt, rel=1e-9)
    assert law(1e22) == pytest.approx(math.exp(icpt) * 1e22**slope, rel=1e-9)


def test_bootstrap_interval_covers_truth_and_is_ordered() -> None:
    rng = np.random.default_rng(0)
    x = np.geomspace(1e18, 1e21, 8)
    y = 0.2 * x**0.5 * np.exp(rng.normal(0, 0.05, size=8))
    boot = bootstrap_power_law(x, y, n=500, seed=1)
    lo, hi = boot.exponent_ci
    assert lo < boot.law.exponent < hi and lo < 0.5 < hi
    band_lo, band_hi = boot.predict_ci(np.array([1e22, 1e24]))
    assert np.all(band_lo < band_hi)
    assert (band_hi / band_lo)[1] > (band_hi / band_lo)[0]  # band widens with extrapolation
    again = bootstrap_power_law(x, y, n=500, seed=1)
    assert np.array_equal(again.exponents, boot.exponents)


def test_one_budget_is_an_error() -> None:
    runs = [r for r in synthetic_runs() if r.compute_budget == 1e18]
    with pytest.raises(FitError, match="need >= 2 compute budgets"):
        isoflops_scaling(runs)
    with pytest.raises(FitError, match=">= 2 distinct x"):
        fit_power_law([1e18, 1e18], [1.0, 2.0])


def test_non_convex_profile_is_an_error() -> None:
    prof = [IsoRun(n, 1e19, 5.0 - 0.1 * math.log(n) ** 2 / 100) for n in (10**7, 10**8, 10**9, 10**10)]
    with pytest.raises(FitError, match="not convex"):
        optimum_parabola(prof)


def test_vertex_outside_range_is_an_error() -> None:
    prof = [IsoRun(n, 1e19, 6.0 - 0.1 * math.log(n)) for n in (10**7, 10**8, 10**9)]  # monotone: min at the edge
    prof = [IsoRun(r.parameters, r.compute_budget, r.final_loss + 0.001 * math.log(r.parameters) ** 2) for r in prof]
    with pytest.raises(FitError, match="outside the sampled range"):
        optimum_parabola(prof)


def test_too_few_points_for_parabola() -> None:
    with pytest.raises(FitError, match=">= 3 distinct"):
        optimum_parabola([IsoRun(10**7, 1e19, 4.0), IsoRun(10**8, 1e19, 3.0)])
    with pytest.raises(FitError, match="window must be >= 3"):
        optimum_parabola(synthetic_runs()[:9], window=2)


@pytest.mark.parametrize(
    ("record", "match"),
    [
        ({"parameters": float("nan"), "compute_budget": 1e19, "final_loss": 3.0}, "parameters must be finite"),
        ({"parameters": 1e8, "compute_budget": 1e19, "final_loss": float("inf")}, "final_loss must be finite"),
        ({"parameters": 1e8, "compute_budget": -1.0, "final_loss": 3.0}, "compute_budget must be finite and > 0"),
        ({"parameters": "big", "compute_budget": 1e19, "final_loss": 3.0}, "parameters must be a number"),
        ({"parameters": 1e8, "final_loss": 3.0}, "missing key"),
    ],
)
def test_bad_records_are_errors(tmp_path, record: dict, match: str) -> None:
    path = tmp_path / "runs.json"
    path.write_text(json.dumps([record]))  # json writes NaN/Infinity literals, which Python reads back
    with pytest.raises(DataError, match=match):
        load_isoflops(path)


def test_bad_files_are_errors(tmp_path) -> None:
    with pytest.raises(DataError, match="not found"):
        load_isoflops(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{oops")
    with pytest.raises(DataError, match="not valid JSON"):
        load_isoflops(tmp_path / "bad.json")
    (tmp_path / "obj.json").write_text("{}")
    with pytest.raises(DataError, match="JSON array"):
        load_isoflops(tmp_path / "obj.json")
    (tmp_path / "empty.json").write_text("[]")
    with pytest.raises(DataError, match="no runs"):
        load_isoflops(tmp_path / "empty.json")


def test_nan_in_fit_inputs_is_an_error() -> None:
    with pytest.raises(FitError, match="finite"):
        fit_power_law([1e18, float("nan"), 1e20], [1.0, 2.0, 3.0])


def test_profiles_group_and_sort() -> None:
    runs = synthetic_runs()[::-1]
    groups = profiles(runs)
    assert list(groups) == sorted(groups)
    for prof in groups.values():
        assert [r.parameters for r in prof] == sorted(r.parameters for r in prof)
    assert optimum_argmin(groups[1e18]).loss == min(r.final_loss for r in groups[1e18])


def test_loss_frontier_recovers_exact_frontier_and_beats_pure_power_law() -> None:
    from cs336_scaling.analysis import fit_loss_frontier

    c = np.geomspace(1e18, 3e21, 9)
    y = 2.5 + 3.0 * (c / 1e18) ** -0.2
    fr = fit_loss_frontier(c, y)
    assert (fr.E, fr.A, fr.gamma) == pytest.approx((2.5, 3.0, 0.2), rel=1e-4)
    pure = fit_power_law(c, y)  # no irreducible term: undershoots when extrapolated
    assert pure(1e24) < fr(1e24) - 0.05
    with pytest.raises(FitError, match=">= 4 budgets"):
        fit_loss_frontier(c[:3], y[:3])
    with pytest.raises(FitError, match="finite"):
        fit_loss_frontier([*c[:3], np.nan], y[:4])
