"""Every public endpoint of the training API: success shapes, error codes and exact detail strings (spec §2.1, §4.6)."""

import pytest

from cs336_scaling.backends import RunResult
from tests.conftest import ALICE_KEY, BOB_KEY, Api, make_cfg


def test_submit_shape_and_budget_summary_matches_get_budget(api: Api) -> None:
    r = api.submit(make_cfg())
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"experiment_id", "budget_summary"}
    assert body["budget_summary"] == {
        "used_seconds": 600.0,
        "remaining_seconds": 42600.0,
        "total_budget_seconds": 43200.0,
    }
    assert api.req("GET", "/budget").json() == body["budget_summary"]
    r2 = api.submit(make_cfg(model_seed=1, max_runtime_seconds=100.0))
    assert r2.json()["budget_summary"]["used_seconds"] == 700.0
    assert api.req("GET", "/budget").json() == r2.json()["budget_summary"]


def test_completion_refunds_unused_reservation(api: Api) -> None:
    exp_id = api.submit(make_cfg()).json()["experiment_id"]
    api.run()
    exp = api.req("GET", f"/experiment/{exp_id}").json()
    st = exp["status"]
    assert st["status_type"] == "completed"
    assert set(st) == {"status_type", "queued_at", "dispatched_at", "run_id", "used_runtime_seconds", "val_losses",
                       "completed_at"}  # fmt: skip
    assert len(st["val_losses"]) == 8
    used = api.req("GET", "/budget").json()["used_seconds"]
    assert used == pytest.approx(max(1.0, st["used_runtime_seconds"]))
    assert used < 600


class FixedBackend:
    name = "fixed"

    def __init__(self, result: RunResult) -> None:
        self.result = result

    def run(self, cfg, on_val_losses):  # noqa: ANN001, ANN201
        return self.result


@pytest.mark.parametrize(
    ("result", "charged", "status"),
    [
        (RunResult("completed", [3.0], 0.2), 1.0, "completed"),  # clipped up to 1 s
        (RunResult("completed", [3.0], 42.5), 42.5, "completed"),
        (RunResult("timeout", [4.0, 3.5], 900.0), 600.0, "failed"),  # timeout charges max_runtime_seconds
        (RunResult("unexpected", [], 1.0, "OOM: too big"), 1.0, "failed"),  # crash before training: 1 s
    ],
)
def test_charges(store, result: RunResult, charged: float, status: str) -> None:
    api = Api(store, backend=FixedBackend(result))
    exp_id = api.submit(make_cfg()).json()["experiment_id"]
    api.run()
    st = api.req("GET", f"/experiment/{exp_id}").json()["status"]
    assert st["status_type"] == status
    assert api.req("GET", "/budget").json()["used_seconds"] == pytest.approx(charged)
    if result.status == "timeout":
        assert st["reason"] == {"reason": "timeout", "partial_val_losses": [4.0, 3.5]}
    if result.status == "unexpected":
        assert st["reason"] == {"reason": "unexpected", "failure": "OOM: too big"}


def test_backend_exception_fails_run_and_charges_one_second(store) -> None:
    class Crash:
        name = "crash"

        def run(self, cfg, on_val_losses):  # noqa: ANN001, ANN201
            raise ValueError("boom")

    api = Api(store, backend=Crash())
    exp_id = api.submit(make_cfg()).json()["experiment_id"]
    api.run()
    st = api.req("GET", f"/experiment/{exp_id}").json()["status"]
    assert st["reason"] == {"reason": "unexpected", "failure": "ValueError: boom"}
    assert api.req("GET", "/budget").json()["used_seconds"] == 1.0


def test_over_budget_is_400_with_summary(store) -> None:
    api = Api(store, total=1000.0)
    assert api.submit(make_cfg(max_runtime_seconds=800.0)).status_code == 200
    r = api.submit(make_cfg(max_runtime_seconds=300.0, model_seed=5))
    assert r.status_code == 400
    assert r.json() == {
        "detail": {
            "message": "insufficient budget",
            "budget_summary": {"used_seconds": 800.0, "remaining_seconds": 200.0, "total_budget_seconds": 1000.0},
        }
    }
    # exactly the remaining amount is allowed
    assert api.submit(make_cfg(max_runtime_seconds=200.0, model_seed=6)).status_code == 200


def test_budget_400_takes_precedence_over_duplicate_409(store) -> None:
    api = Api(store, total=1000.0)
    cfg = make_cfg(max_runtime_seconds=600.0)
    assert api.submit(cfg).status_code == 200
    assert api.submit(cfg).status_code == 400  # duplicate, but 600 > 400 remaining
    api2 = Api(store, total=5000.0)
    r = api2.submit(cfg)
    assert r.status_code == 409
    assert r.json() == {"detail": "experiment already exists for this training config"}


def test_duplicate_depends_on_seed_and_runtime_not_user(api: Api) -> None:
    cfg = make_cfg()
    assert api.submit(cfg).status_code == 200
    assert api.submit(cfg).status_code == 409
    assert api.submit(make_cfg(model_seed=1)).status_code == 200
    assert api.submit(make_cfg(max_runtime_seconds=601.0)).status_code == 200
    assert api.submit(cfg, key=BOB_KEY).status_code == 200  # nothing shared across users


def test_auth(api: Api) -> None:
    for method, path in [("GET", "/budget"), ("GET", "/experiments"), ("GET", "/experiment/1"),
                         ("GET", "/final_submission"), ("POST", "/submit")]:  # fmt: skip
        r = api.req(method, path, key=None, json=make_cfg() if method == "POST" else None)
        assert (r.status_code, r.json()) == (401, {"detail": "missing X-API-Key"}), path
        r = api.req(method, path, key="99999999", json=make_cfg() if method == "POST" else None)
        assert (r.status_code, r.json()) == (401, {"detail": "invalid API key"}), path


def test_other_users_experiment_is_404(api: Api) -> None:
    exp_id = api.submit(make_cfg()).json()["experiment_id"]
    assert api.req("GET", f"/experiment/{exp_id}").status_code == 200
    r = api.req("GET", f"/experiment/{exp_id}", key=BOB_KEY)
    assert (r.status_code, r.json()) == (404, {"detail": "not found"})
    assert api.req("GET", "/experiment/999").status_code == 404
    assert api.req("GET", f"/experiment/{2**70}").status_code in (404, 422)
    assert api.req("GET", "/experiments", key=BOB_KEY).json() == []


def test_experiments_order_and_shape(api: Api) -> None:
    ids = [api.submit(make_cfg(model_seed=s)).json()["experiment_id"] for s in range(3)]
    listed = api.req("GET", "/experiments").json()
    assert [e["experiment_id"] for e in listed] == ids  # queued_at ascending
    assert all(set(e) == {"experiment_id", "training_config", "status"} for e in listed)
    assert listed[0]["status"]["status_type"] == "queued"
    assert listed[0]["training_config"]["model_seed"] == 0


def test_final_submission_upsert(api: Api) -> None:
    assert api.req("GET", "/final_submission").json() is None
    body = {"training_config": make_cfg(), "predicted_final_loss": 3.1}
    r = api.req("POST", "/final_submission", json=body)
    assert r.status_code == 200
    assert set(r.json()) == {"training_config", "predicted_final_loss", "submitted_at"}
    body2 = {"training_config": make_cfg(model_seed=3), "predicted_final_loss": 2.9}
    api.req("POST", "/final_submission", json=body2)
    got = api.req("GET", "/final_submission").json()
    assert got["predicted_final_loss"] == 2.9 and got["training_config"]["model_seed"] == 3
    assert api.req("GET", "/final_submission", key=BOB_KEY).json() is None
    for bad in (0, -1.0, "x"):
        r = api.req("POST", "/final_submission", json={**body, "predicted_final_loss": bad})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "predicted_final_loss"]


def test_dashboard_is_html(api: Api) -> None:
    r = api.req("GET", "/dashboard", key=None)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert 'id="budget-remaining"' in r.text and 'id="submit-json"' in r.text


def test_internal_routes(api: Api) -> None:
    exp_id = api.submit(make_cfg()).json()["experiment_id"]
    body = {"used_runtime_seconds": 5.0, "val_losses": [3.0]}
    assert api.req("POST", f"/internal/worker/{exp_id}/finish", key=None, json=body).status_code == 403
    headers = {"X-Internal-Key": "secret"}
    r = api.http.post(f"/internal/worker/{exp_id}/finish", json=body, headers=headers)
    assert r.status_code == 409  # still queued: the state machine refuses
    api.store.mark_running(exp_id, "run-1")
    r = api.http.post(f"/internal/worker/{exp_id}/finish", json=body, headers=headers)
    assert r.status_code == 200 and r.json()["status_type"] == "completed"
    assert api.req("GET", "/budget").json()["used_seconds"] == 5.0
    assert "/internal/worker/{experiment_id}/finish" not in api.http.get("/openapi.json").json()["paths"]


def test_cors_allows_localhost(api: Api) -> None:
    r = api.http.options(
        "/budget",
        headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "GET",
                 "Access-Control-Request-Headers": "X-API-Key"},
    )  # fmt: skip
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "http://localhost:3000"
    r = api.http.options("/budget", headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "GET"})
    assert "access-control-allow-origin" not in r.headers


def test_alice_key_constant_is_valid(api: Api) -> None:
    assert api.req("GET", "/budget", key=ALICE_KEY).status_code == 200
