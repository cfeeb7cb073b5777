"""The shipped isoflops_curves.json against the spec's reference numbers (spec §3.3), with its stated tolerances."""

import pytest

from cs336_scaling.analysis import bootstrap_power_law, fit_parametric, isoflops_scaling, load_isoflops

pytestmark = pytest.mark.needs_data


@pytest.fixture(scope="module")
def runs(shared_data):
    return load_isoflops(shared_data / "scaling" / "isoflops_curves.json")


def test_shape_of_file(runs) -> None:
    assert len(runs) == 72
    assert len({r.compute_budget for r in runs}) == 9


def test_argmin_reference(runs) -> None:
    res = isoflops_scaling(runs, "argmin")
    assert res.n_law.exponent == pytest.approx(0.46868, abs=0.002)
    assert res.n_law.coef == pytest.approx(1.1634, rel=0.02)
    assert res.d_law.exponent == pytest.approx(0.53132, abs=0.002)
    expected = {1e23: (7.005e10, 2.379e11), 1e24: (2.061e11, 8.086e11)}
    for c, (n, d) in expected.items():
        got_n, got_d = res.predict(c)
        assert got_n == pytest.approx(n, rel=0.02) and got_d == pytest.approx(d, rel=0.02)
    ref = [7.62e8, 8.07e8, 1.54e9, 1.95e9, 3.25e9, 5.90e9, 6.97e9, 6.86e9, 1.21e10]
    assert [p.n for p in res.points] == pytest.approx(ref, rel=0.01)
    ref_loss = [5.900, 5.618, 5.107, 4.831, 4.653, 4.311, 4.121, 4.003, 3.773]
    assert [p.loss for p in res.points] == pytest.approx(ref_loss, abs=6e-4)


def test_parabola_reference(runs) -> None:
    res = isoflops_scaling(runs, "parabola")
    assert res.n_law.exponent == pytest.approx(0.5146, abs=0.002)
    assert res.n_law.coef == pytest.approx(0.1332, rel=0.02)
    n23, d23 = res.predict(1e23)
    n24, d24 = res.predict(1e24)
    assert (n23, n24, d23, d24) == pytest.approx((9.11e10, 2.98e11, 1.83e11, 5.59e11), rel=0.02)
    local = isoflops_scaling(runs, "parabola", window=5)
    assert local.n_law.exponent == pytest.approx(0.5143, abs=0.002)
    assert local.predict(1e23)[0] == pytest.approx(9.17e10, rel=0.02)
    assert local.predict(1e24)[0] == pytest.approx(3.00e11, rel=0.02)


def test_bootstrap_interval_reference(runs) -> None:
    res = isoflops_scaling(runs, "argmin")
    cs = [p.compute_budget for p in res.points]
    boot = bootstrap_power_law(cs, [p.n for p in res.points], n=2000, seed=0, level=0.9)
    lo, hi = boot.exponent_ci
    assert lo == pytest.approx(0.44, abs=0.02) and hi == pytest.approx(0.52, abs=0.02)
    band = boot.predict_ci(1e23)
    assert band[0][0] == pytest.approx(5.6e10, rel=0.1) and band[1][0] == pytest.approx(1.1e11, rel=0.1)


def test_approach3_recovers_ground_truth(runs) -> None:
    law = fit_parametric([r.parameters for r in runs], [r.tokens for r in runs], [r.final_loss for r in runs])
    truth = {"E": 2.69, "A": 1606.4, "B": 3210.7, "alpha": 0.34, "beta": 0.36}
    for key, value in truth.items():
        assert getattr(law, key) == pytest.approx(value, rel=1e-3), key
    assert law.n_exponent == pytest.approx(0.51429, abs=1e-4)
    assert law.optimum(1e23)[0] == pytest.approx(9.19e10, rel=0.02)
    assert law.optimum(1e24)[0] == pytest.approx(3.00e11, rel=0.02)
    assert law.optimum(1e23)[2] == pytest.approx(3.275, abs=1e-3)
    assert law.optimum(1e24)[2] == pytest.approx(3.081, abs=1e-3)


def test_loss_frontier_reference(runs) -> None:
    from cs336_scaling.analysis import fit_loss_frontier, fit_power_law

    res = isoflops_scaling(runs, "argmin")
    cs, losses = [p.compute_budget for p in res.points], [p.loss for p in res.points]
    frontier = fit_loss_frontier(cs, losses)
    assert frontier(1e23) == pytest.approx(3.28, abs=0.01)  # spec §5.8: E + A·C^-γ gives 3.28 (truth 3.275)
    assert fit_power_law(cs, losses)(1e23) == pytest.approx(2.86, abs=0.02)  # the pure power law undershoots
