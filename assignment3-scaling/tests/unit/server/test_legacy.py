"""Classic mode: the 2024/2025 synchronous FLOPs API over the simulated surface (spec §1.7)."""

import pytest
from fastapi.testclient import TestClient

from cs336_scaling.server.app import Settings, create_app
from cs336_scaling.server.legacy import LEGACY_BUDGET_FLOPS
from tests.conftest import ALICE_KEY, BOB_KEY

Q = dict(d_model=512, num_layers=8, num_heads=8, batch_size=128, learning_rate=5e-4, train_flops=1e17)


@pytest.fixture
def http(store):
    return TestClient(create_app(Settings(classic_world_seed=0), store=store))


def get(http, **over):
    return http.get("/loss", params={**Q, "api_key": ALICE_KEY, **over})


def test_loss_budget_and_cache(http) -> None:
    r = get(http)
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"loss", "total_flops_used"} and body["total_flops_used"] == 1e17
    again = get(http).json()
    assert again == body  # cached: same loss, not charged again
    assert http.get("/total_flops_used", params={"api_key": ALICE_KEY}).json() == 1e17
    assert http.get("/total_flops_used", params={"api_key": BOB_KEY}).json() == 0
    runs = http.get("/previous_runs", params={"api_key": ALICE_KEY}).json()["previous_runs"]
    assert runs == [{**Q, "loss": body["loss"]}]


def test_loss_falls_with_compute_and_with_lr_towards_its_optimum(http) -> None:
    small = get(http, train_flops=1e16).json()["loss"]
    big = get(http, train_flops=6e17).json()["loss"]
    assert big < small - 0.1
    # eta*(N) of this world is above the legacy range at N = 25M, so within it the higher LR is better
    at_lr = [get(http, learning_rate=lr, train_flops=1e15).json()["loss"] for lr in (1e-4, 1e-3)]
    assert at_lr[1] < at_lr[0] - 0.1


def test_budget_exceeded_is_400(http) -> None:
    assert get(http, train_flops=1e18).status_code == 200
    assert get(http, train_flops=1e18, d_model=256, num_heads=4).status_code == 200  # exactly 2e18
    r = get(http, train_flops=1e13, d_model=128, num_heads=4)
    assert r.status_code == 400 and "budget" in r.json()["detail"]
    assert http.get("/total_flops_used", params={"api_key": ALICE_KEY}).json() == LEGACY_BUDGET_FLOPS


@pytest.mark.parametrize(
    ("over", "field"),
    [({"d_model": 32}, "d_model"), ({"num_layers": 30}, "num_layers"), ({"num_heads": 1}, "num_heads"),
     ({"batch_size": 64}, "batch_size"), ({"learning_rate": 1e-2}, "learning_rate"),
     ({"train_flops": 2e17}, "train_flops"), ({"num_heads": 7}, "num_heads"), ({"d_model": "x"}, "d_model")],
)  # fmt: skip
def test_validation_is_422(http, over: dict, field: str) -> None:
    r = get(http, **over)
    assert r.status_code == 422 and field in str(r.json()["detail"])


def test_auth_and_disabled_by_default(http, store) -> None:
    assert get(http, api_key="bad").status_code == 401
    assert http.get("/loss", params=Q).status_code == 422  # api_key missing
    plain = TestClient(create_app(Settings(), store=store))
    assert plain.get("/loss", params={**Q, "api_key": ALICE_KEY}).status_code == 404


@pytest.mark.postgres
def test_classic_mode_on_postgres(pg_store) -> None:
    http = TestClient(create_app(Settings(classic_world_seed=0), store=pg_store))
    first = get(http).json()
    assert get(http).json() == first and first["total_flops_used"] == 1e17
    assert get(http, train_flops=1e18).status_code == 200
    assert get(http, train_flops=1e18, d_model=256, num_heads=4).status_code == 400  # 1.1e18 + 1e18 > 2e18
