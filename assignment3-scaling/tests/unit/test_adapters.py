"""The adapters call the library correctly (glue only)."""

import json

import pytest

from tests import adapters
from tests.unit.analysis.test_isoflops import TRUE, synthetic_runs
from tests.unit.server.test_api import make_cfg


def test_isoflops_adapters(tmp_path) -> None:
    path = tmp_path / "iso.json"
    path.write_text(json.dumps([vars(r) for r in synthetic_runs(p=TRUE)]))
    out = adapters.run_chinchilla_isoflops(path, "parabola")
    assert out["n_exponent"] + out["d_exponent"] == pytest.approx(1.0)
    assert out["n_1e24"] > out["n_1e23"] > 0
    fit = adapters.run_fit_parametric(path)
    assert fit["alpha"] == pytest.approx(TRUE["alpha"], rel=1e-2)


def test_embedded_client_adapter() -> None:
    with adapters.get_embedded_client() as api:
        exp = api.submit_experiment(make_cfg())
        done = api.wait_for(exp.experiment_id)
        assert done.status.status_type == "completed"
        assert api.get_budget().used_seconds == pytest.approx(max(1.0, done.status.used_runtime_seconds))
