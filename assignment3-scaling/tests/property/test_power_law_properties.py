"""Hypothesis properties of the fits: exact power laws are recovered; parabola vertices lie in range; hash stable."""

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from cs336_scaling.analysis import IsoRun, fit_power_law, optimum_parabola
from cs336_scaling.api import TrainingConfig
from tests.conftest import make_cfg


@settings(max_examples=60, deadline=None)
@given(
    coef=st.floats(1e-3, 1e3),
    exponent=st.floats(-1.5, 1.5),
    lo=st.floats(10, 20),
    k=st.integers(2, 12),
)
def test_exact_power_law_is_recovered(coef: float, exponent: float, lo: float, k: int) -> None:
    x = np.logspace(lo, lo + 3, k)
    law = fit_power_law(x, coef * x**exponent)
    assert math.isclose(law.exponent, exponent, abs_tol=1e-8)
    assert math.isclose(law.coef, coef, rel_tol=1e-6)
    assert law.resid_std < 1e-8


@settings(max_examples=60, deadline=None)
@given(
    center=st.floats(16, 24),
    curvature=st.floats(0.01, 1.0),
    offset=st.floats(-0.9, 0.9),
    n=st.integers(3, 9),
)
def test_parabola_vertex_recovers_exact_quadratics(center: float, curvature: float, offset: float, n: int) -> None:
    grid = np.linspace(center - 2, center + 2, n) + offset  # vertex inside the range
    runs = [IsoRun(int(math.exp(g)), 1e20, 3.0 + curvature * (math.log(int(math.exp(g))) - center) ** 2) for g in grid]
    opt = optimum_parabola(runs)
    assert math.isclose(math.log(opt.n), center, abs_tol=1e-6)
    assert math.isclose(opt.loss, 3.0, abs_tol=1e-8)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31), steps=st.integers(1, 64), lr=st.floats(1e-5, 1e-1))
def test_hash_is_a_function_of_content(seed: int, steps: int, lr: float) -> None:
    body = make_cfg(
        model_seed=seed, total_train_tokens=64 * 512 * 8 * steps, optimizer_config__lr_scheduler__peak_value=lr
    )
    a, b = TrainingConfig.model_validate(body), TrainingConfig.model_validate(dict(reversed(list(body.items()))))
    assert a.unique_id == b.unique_id
    assert a.unique_id != a.model_copy(update={"model_seed": seed + 1}).unique_id
