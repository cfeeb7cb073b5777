"""The `cs336-scaling` CLI: isoflops table/JSON/plots, client commands against a live server, error exit codes."""

import json

import pytest

from cs336_scaling.cli import main
from tests.conftest import ALICE_KEY, Api, LiveServer, make_cfg
from tests.unit.analysis.test_isoflops import synthetic_runs


@pytest.fixture
def iso_file(tmp_path):
    path = tmp_path / "iso.json"
    path.write_text(json.dumps([vars(r) for r in synthetic_runs()]))
    return path


def test_isoflops_command(iso_file, tmp_path, capsys) -> None:
    out = tmp_path / "out"
    assert main(["isoflops", "--data", str(iso_file), "--out", str(out), "--bootstrap", "200"]) == 0
    text = capsys.readouterr().out
    assert "| argmin |" in text and "| parabola |" in text and "approach 3" in text
    summary = json.loads((out / "isoflops.json").read_text())
    assert set(summary["methods"]) == {"argmin", "parabola"}
    assert summary["methods"]["parabola"]["predictions"]["1e+24"]["n"] > 0
    for name in ("n_opt_argmin.png", "d_opt_argmin.png", "n_opt_parabola.png", "d_opt_parabola.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_isoflops_errors_exit_1(tmp_path, capsys) -> None:
    assert main(["isoflops", "--data", str(tmp_path / "nope.json")]) == 1
    assert capsys.readouterr().err.startswith("error: IsoFLOPs file not found")
    one = tmp_path / "one.json"
    one.write_text(json.dumps([{"parameters": 10**8, "compute_budget": 1e19, "final_loss": 3.0}] * 3))
    assert main(["isoflops", "--data", str(one), "--no-plots"]) == 1
    assert "need >= 2 compute budgets" in capsys.readouterr().err


def test_client_commands(api: Api, live_server: LiveServer, tmp_path, capsys) -> None:
    common = ["--url", live_server.url, "--api-key", ALICE_KEY]
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps(make_cfg()))
    assert main(["budget", *common]) == 0
    assert json.loads(capsys.readouterr().out)["remaining_seconds"] == 43200.0
    assert main(["submit", str(cfg), *common]) == 0
    exp_id = json.loads(capsys.readouterr().out)["experiment_id"]
    api.run()
    assert main(["wait", str(exp_id), "--poll", "0.05", *common]) == 0
    assert json.loads(capsys.readouterr().out)["status"]["status_type"] == "completed"
    assert main(["experiments", *common]) == 0
    assert "completed" in capsys.readouterr().out
    assert main(["final-submit", str(cfg), "--loss", "3.1", *common]) == 0
    assert json.loads(capsys.readouterr().out)["predicted_final_loss"] == 3.1
    # errors: duplicate (409), bad key (401), bad JSON file
    assert main(["submit", str(cfg), *common]) == 1
    assert "HTTP 409" in capsys.readouterr().err
    assert main(["budget", "--url", live_server.url, "--api-key", "00000000"]) == 1
    assert "HTTP 401" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    assert main(["submit", str(bad), *common]) == 1
    assert "cannot read JSON" in capsys.readouterr().err


def test_plan_and_grade_commands(tmp_path, capsys) -> None:
    assert main(["plan", "--embedded", "--world-seed", "1", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| n_ratio |" in out and "final:" in out
    plan = json.loads((tmp_path / "plan.json").read_text())
    assert plan["grade"]["budget_used_seconds"] <= 43200 and abs(plan["grade"]["abs_error"]) < 0.1
    assert 0.3 < plan["isoflops_exponent"] < 0.7


def test_grade_command_reads_final_submission(api: Api, capsys) -> None:
    db = api.store.path
    assert main(["grade", "--db", db, "--user", "alice"]) == 1
    assert "no final submission" in capsys.readouterr().err
    api.req("POST", "/final_submission", json={"training_config": make_cfg(), "predicted_final_loss": 4.0})
    assert main(["grade", "--db", db, "--user", "alice"]) == 0
    assert "| achieved_loss |" in capsys.readouterr().out


def test_plot_command(api: Api, tmp_path, capsys) -> None:
    db = api.store.path
    assert main(["plot", "--db", db, "--user", "alice", "--out", str(tmp_path)]) == 1
    assert "no completed experiments" in capsys.readouterr().err
    for seed in range(3):
        api.submit(make_cfg(model_seed=seed))
    api.submit(make_cfg(total_train_tokens=64 * 512 * 8 * 32))
    api.run()
    assert main(["plot", "--db", db, "--user", "alice", "--out", str(tmp_path)]) == 0
    for name in ("loss_curves.png", "final_loss_vs_n.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"


def test_help_has_examples(capsys) -> None:
    for cmd in ("isoflops", "serve", "plan", "grade", "submit", "wait", "budget", "experiments", "final-submit",
                "plot", "make-corpus"):  # fmt: skip
        with pytest.raises(SystemExit) as exc:
            main([cmd, "--help"])
        assert exc.value.code == 0
        assert "example:" in capsys.readouterr().out
