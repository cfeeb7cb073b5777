"""Adapters for assignment 3. The course defines no A3 adapter functions (its contract is the HTTP API and the
analysis API, spec §2 and §3.4), so these are thin glue functions calling `cs336_scaling` the way a course-style
test would: load the IsoFLOPs data, fit approach 2 and 3, and talk to an in-process API. No logic lives here.
"""

from pathlib import Path

from cs336_scaling.analysis import fit_parametric, isoflops_scaling, load_isoflops
from cs336_scaling.client import EmbeddedClient


def run_chinchilla_isoflops(path: str | Path, method: str = "argmin") -> dict[str, float]:
    """Exponent, coefficient and N/D predictions at 1e23 and 1e24 FLOPs for the handout's isoflops_curves.json."""
    result = isoflops_scaling(load_isoflops(path), method)  # type: ignore[arg-type]
    n23, d23 = result.predict(1e23)
    n24, d24 = result.predict(1e24)
    return {
        "n_coef": result.n_law.coef, "n_exponent": result.n_law.exponent,
        "d_coef": result.d_law.coef, "d_exponent": result.d_law.exponent,
        "n_1e23": n23, "n_1e24": n24, "d_1e23": d23, "d_1e24": d24,
    }  # fmt: skip


def run_fit_parametric(path: str | Path) -> dict[str, float]:
    """Approach-3 parameters (E, A, B, alpha, beta) on the same file."""
    runs = load_isoflops(path)
    law = fit_parametric([r.parameters for r in runs], [r.tokens for r in runs], [r.final_loss for r in runs])
    return {"E": law.E, "A": law.A, "B": law.B, "alpha": law.alpha, "beta": law.beta}


def get_embedded_client(**kwargs: object) -> EmbeddedClient:
    """An in-process server + dispatcher + simulated backend with one user; use as a context manager."""
    return EmbeddedClient(**kwargs)  # type: ignore[arg-type]
