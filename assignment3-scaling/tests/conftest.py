"""Fixtures for the A3 suite: fresh databases, TestClients with two users, a live loopback server, configs."""

import copy
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cs336_scaling.backends.simulated import SimulatedBackend
from cs336_scaling.server.app import Settings, create_app
from cs336_scaling.server.dispatch import Dispatcher
from cs336_scaling.server.store import Store

ALICE_KEY, BOB_KEY = "11111111", "22222222"

BASE_CONFIG = {
    "architecture_config": {
        "hidden_size": 256, "head_dim": 64, "num_attention_heads": 4, "num_key_value_heads": 4,
        "num_hidden_layers": 4, "intermediate_size": 704,
    },
    "optimizer_config": {"type": "adamw", "lr_scheduler": {"peak_value": 3e-3}},
    "train_batch_size": 64, "val_batch_size": 64, "n_evals": 8,
    "total_train_tokens": 64 * 512 * 8 * 16, "max_runtime_seconds": 600.0, "model_seed": 0,
}  # fmt: skip


def make_cfg(**overrides: object) -> dict:
    """BASE_CONFIG with overrides; `a__b` keys reach into nested sections (`architecture_config__head_dim=32`)."""
    cfg = copy.deepcopy(BASE_CONFIG)
    for key, value in overrides.items():
        *path, last = key.split("__")
        node = cfg
        for part in path:
            node = node[part]
        if value is DELETE:
            node.pop(last)
        else:
            node[last] = value
    return cfg


DELETE = object()


def _new_store(url: str) -> Store:
    store = Store(url)
    store.add_user("alice", ALICE_KEY)
    store.add_user("bob", BOB_KEY)
    return store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = _new_store(str(tmp_path / "api.db"))
    yield s
    s.close()


@pytest.fixture
def pg_store() -> Iterator[Store]:
    """A Store in a fresh schema of the CI PostgreSQL database."""
    import psycopg

    base = os.environ["CS336_TEST_POSTGRES_URL"]
    schema = f"t_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in base else "?"
    s = _new_store(f"{base}{sep}options=-csearch_path%3D{schema}")
    yield s
    s.close()
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


class Api:
    """TestClient + dispatcher on one store; `run()` executes everything queued (simulated backend, instant)."""

    def __init__(self, store: Store, total: float = 43200.0, backend: object = None) -> None:
        self.store = store
        self.app = create_app(
            Settings(db_url="unused", total_budget_seconds=total, internal_api_key="secret"), store=store
        )
        self.http = TestClient(self.app)
        self.dispatcher = Dispatcher(store, backend or SimulatedBackend(), max_workers=2)

    def req(self, method: str, path: str, key: str | None = ALICE_KEY, headers: dict | None = None, **kw: object):
        headers = {**({"X-API-Key": key} if key else {}), **(headers or {})}
        return self.http.request(method, path, headers=headers, **kw)

    def submit(self, cfg: dict, key: str = ALICE_KEY):
        return self.req("POST", "/submit", key, json=cfg)

    def run(self) -> None:
        self.dispatcher.drain()


@pytest.fixture
def api(store: Store) -> Iterator[Api]:
    a = Api(store)
    yield a
    a.dispatcher.stop()


class LiveServer:
    """uvicorn on 127.0.0.1 with an OS-chosen port, in a thread; stops on exit."""

    def __init__(self, app: object) -> None:
        import uvicorn

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> "LiveServer":
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


@pytest.fixture
def live_server(api: Api) -> Iterator[LiveServer]:
    with LiveServer(api.app) as server:
        yield server
