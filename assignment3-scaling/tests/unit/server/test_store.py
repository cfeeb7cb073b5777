"""Store, state machine and fair-share dispatch (spec §2.3-2.5); the same checks run on PostgreSQL when available."""

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from cs336_scaling.server.dispatch import select_experiments_for_dispatch
from cs336_scaling.server.store import InvalidTransitionError, OverBudgetError, Store, StoreError, check_transition
from tests.conftest import ALICE_KEY, Api, LiveServer, make_cfg


def _submit(store: Store, uid: str, max_rt: float = 100.0, total: float = 1000.0, user: str = "alice") -> int:
    return store.submit(user, uid, make_cfg(), max_rt, total)[0]


@pytest.mark.parametrize(
    ("current", "new", "ok"),
    [("queued", "running", True), ("running", "completed", True), ("running", "failed", True),
     ("queued", "completed", False), ("queued", "failed", False), ("completed", "running", False),
     ("failed", "completed", False), ("completed", "failed", False), ("running", "queued", False)],
)  # fmt: skip
def test_transition_table(current: str, new: str, ok: bool) -> None:
    if ok:
        check_transition(current, new)
    else:
        with pytest.raises(InvalidTransitionError, match=f"{current} -> {new}"):
            check_transition(current, new)


def _state_machine_guards(store: Store) -> None:
    exp = _submit(store, "a")
    with pytest.raises(InvalidTransitionError):
        store.finish_completed(exp, 3.0, [1.0])  # finish while queued
    store.mark_running(exp, "run-1")
    with pytest.raises(InvalidTransitionError):
        store.mark_running(exp, "run-2")
    assert store.record_val_losses(exp, "run-1", [5.0]) is True
    assert store.record_val_losses(exp, "other-run", [9.0]) is False  # run_id mismatch ignored
    assert store.get_experiment(exp).status["val_losses"] == [5.0]
    store.finish_completed(exp, 3.0, [5.0, 4.0])
    assert store.record_val_losses(exp, "run-1", [1.0]) is False  # no longer running
    with pytest.raises(InvalidTransitionError):
        store.finish_failed(exp, 3.0, {"reason": "unexpected", "failure": "x"})
    assert store.get_experiment(exp).status["val_losses"] == [5.0, 4.0]


def _budget_arithmetic(store: Store) -> None:
    a, b, c, d = (_submit(store, uid) for uid in "abcd")
    assert store.used_seconds("alice") == 400.0  # four reservations of 100
    for exp in (a, b, c):
        store.mark_running(exp, f"r{exp}")
    store.finish_completed(a, 0.25, [3.0])  # clipped up to 1
    store.finish_completed(b, 250.0, [3.0])  # clipped down to max_runtime
    store.finish_failed(c, 37.5, {"reason": "unexpected", "failure": "x"})
    assert store.used_seconds("alice") == pytest.approx(1 + 100 + 37.5 + 100)
    assert store.used_seconds("bob") == 0.0
    with pytest.raises(OverBudgetError):
        _submit(store, "e", max_rt=1000 - 238.5 + 0.01)
    _submit(store, "e", max_rt=1000 - 238.5)


def _seed_refuses_non_empty(store: Store, tmp_path) -> None:
    csv = tmp_path / "users.csv"
    csv.write_text("sunet_id,api_key\ncarol,33333333\n")
    with pytest.raises(StoreError, match="non-empty"):
        store.seed_users(csv)
    with pytest.raises(StoreError, match="already exists"):
        store.add_user("alice", "44444444")


def test_state_machine_guards(store: Store) -> None:
    _state_machine_guards(store)


def test_budget_arithmetic(store: Store) -> None:
    _budget_arithmetic(store)


def test_seed_users(store: Store, tmp_path) -> None:
    _seed_refuses_non_empty(store, tmp_path)
    fresh = Store(str(tmp_path / "fresh.db"))
    csv = tmp_path / "users.csv"
    assert fresh.seed_users(csv) == 1 and fresh.user_for_key("33333333") == "carol"
    fresh.close()


@pytest.mark.postgres
def test_postgres_state_machine(pg_store: Store, tmp_path) -> None:
    _state_machine_guards(pg_store)
    _seed_refuses_non_empty(pg_store, tmp_path)


@pytest.mark.postgres
def test_postgres_budget_arithmetic(pg_store: Store) -> None:
    _budget_arithmetic(pg_store)


def test_fair_share_selector() -> None:
    queued = [(1, "a", "t1"), (2, "a", "t2"), (3, "a", "t3"), (4, "b", "t4"), (5, "c", "t5"), (6, "b", "t0")]
    # ranks: a: 0,1,2 ; b (queue t0,t4): 0,1 ; c: 0 -> order by (rank, queued_at, id)
    assert select_experiments_for_dispatch(queued, {}, 10) == [6, 1, 5, 2, 4, 3]
    assert select_experiments_for_dispatch(queued, {}, 3) == [6, 1, 5]
    # a user with running jobs waits behind the others
    assert select_experiments_for_dispatch(queued, {"b": 2}, 3) == [1, 5, 2]
    assert select_experiments_for_dispatch(queued, {}, 0) == []
    assert select_experiments_for_dispatch(queued, {}, -3) == []
    # ties on rank and queued_at break by id
    assert select_experiments_for_dispatch([(9, "x", "t"), (8, "y", "t")], {}, 2) == [8, 9]


def test_dispatcher_respects_capacity(api: Api) -> None:
    for s in range(5):
        api.submit(make_cfg(model_seed=s))
    started = api.dispatcher.dispatch_once()
    assert len(started) <= 2
    api.run()
    assert {e["status"]["status_type"] for e in api.req("GET", "/experiments").json()} == {"completed"}


def _race(url: str, total_cfgs: int = 12) -> list[int]:
    """Many threads submit distinct 10000-s configs at once through real HTTP; return the status codes."""
    barrier = threading.Barrier(total_cfgs)

    def one(seed: int) -> int:
        with httpx.Client(base_url=url, headers={"X-API-Key": ALICE_KEY}, timeout=60) as c:
            body = make_cfg(model_seed=seed, max_runtime_seconds=10000.0)
            barrier.wait()
            return c.post("/submit", json=body).status_code

    with ThreadPoolExecutor(total_cfgs) as pool:
        return list(pool.map(one, range(total_cfgs)))


def test_racing_submits_cannot_overspend(api: Api, live_server: LiveServer) -> None:
    codes = _race(live_server.url)
    assert sorted(codes) == [200] * 4 + [400] * 8  # 43200 s buys exactly four 10000-s reservations
    budget = api.req("GET", "/budget").json()
    assert budget["used_seconds"] == 40000.0 and budget["remaining_seconds"] >= 0


def test_racing_duplicates_insert_once(api: Api, live_server: LiveServer) -> None:
    barrier = threading.Barrier(6)

    def one(_: int) -> int:
        with httpx.Client(base_url=live_server.url, headers={"X-API-Key": ALICE_KEY}, timeout=60) as c:
            barrier.wait()
            return c.post("/submit", json=make_cfg()).status_code

    with ThreadPoolExecutor(6) as pool:
        codes = list(pool.map(one, range(6)))
    assert sorted(codes) == [200] + [409] * 5


@pytest.mark.postgres
def test_postgres_racing_submits_cannot_overspend(pg_store: Store) -> None:
    api = Api(pg_store)
    with LiveServer(api.app) as server:
        codes = _race(server.url)
    assert sorted(codes) == [200] * 4 + [400] * 8
    assert pg_store.used_seconds("alice") == 40000.0


@pytest.mark.postgres
def test_postgres_end_to_end_api(pg_store: Store) -> None:
    api = Api(pg_store)
    exp_id = api.submit(make_cfg()).json()["experiment_id"]
    assert api.submit(make_cfg()).status_code == 409
    api.run()
    st = api.req("GET", f"/experiment/{exp_id}").json()["status"]
    assert st["status_type"] == "completed" and len(st["val_losses"]) == 8
    assert api.req("GET", "/budget").json()["used_seconds"] == pytest.approx(max(1.0, st["used_runtime_seconds"]))
    body = {"training_config": make_cfg(), "predicted_final_loss": 3.0}
    assert api.req("POST", "/final_submission", json=body).status_code == 200
    assert api.req("POST", "/final_submission", json=body).status_code == 200
    assert api.req("GET", "/final_submission").json()["predicted_final_loss"] == 3.0


def test_fail_orphans(store: Store) -> None:
    a, b = _submit(store, "a"), _submit(store, "b")
    store.mark_running(a, "r")
    assert store.fail_orphans() == [a]
    st = store.get_experiment(a).status
    assert st["status_type"] == "failed" and st["reason"]["failure"].startswith("ServerRestart")
    assert store.get_experiment(b).status["status_type"] == "queued"
    assert store.used_seconds("alice") == 1.0 + 100.0
