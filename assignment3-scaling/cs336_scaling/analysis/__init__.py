"""Scaling-law analysis: IsoFLOPs (Chinchilla approach 2), power-law fits with bootstrap CIs, approach 3, plots."""

from cs336_scaling.analysis.frontier import LossFrontier, fit_loss_frontier
from cs336_scaling.analysis.isoflops import (
    BootstrapPowerLaw,
    BudgetOptimum,
    IsoflopsResult,
    IsoRun,
    Optimum,
    PowerLaw,
    bootstrap_power_law,
    fit_power_law,
    isoflops_scaling,
    load_isoflops,
    optimum_argmin,
    optimum_parabola,
    profiles,
)
from cs336_scaling.analysis.parametric import ParametricLaw, fit_parametric

__all__ = [
    "BootstrapPowerLaw",
    "BudgetOptimum",
    "IsoRun",
    "IsoflopsResult",
    "LossFrontier",
    "Optimum",
    "ParametricLaw",
    "PowerLaw",
    "bootstrap_power_law",
    "fit_loss_frontier",
    "fit_parametric",
    "fit_power_law",
    "isoflops_scaling",
    "load_isoflops",
    "optimum_argmin",
    "optimum_parabola",
    "profiles",
]
