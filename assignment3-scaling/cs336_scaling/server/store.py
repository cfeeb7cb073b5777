"""Persistence for the training API: SQLite by default, PostgreSQL via a `postgresql://` URL (spec §2.3-2.5, §4.1).

Portable SQL only (no JSONB, LEAST/GREATEST or ON CONFLICT differences leak out): JSON lives in TEXT columns next
to a denormalised `status_type`. The budget is one aggregate recomputed on every request, never stored. A submit
is one transaction that serialises per user: PostgreSQL locks the user row `FOR UPDATE`; SQLite takes the database
write lock with `BEGIN IMMEDIATE`. Each thread gets its own connection.
"""

import csv
import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cs336_scaling.errors import ScalingError


class StoreError(ScalingError):
    """Base of the store's expected failures (mapped to HTTP codes in server/app.py)."""


class OverBudgetError(StoreError):
    def __init__(self, used: float, total: float) -> None:
        super().__init__(f"insufficient budget: used {used:.1f} of {total:.1f} s")
        self.used, self.total = used, total


class DuplicateExperimentError(StoreError):
    pass


class InvalidTransitionError(StoreError):
    """A state-machine transition other than queued→running→{completed, failed}."""


ALLOWED_TRANSITIONS = {("queued", "running"), ("running", "completed"), ("running", "failed")}


def check_transition(current: str, new: str) -> None:
    if (current, new) not in ALLOWED_TRANSITIONS:
        raise InvalidTransitionError(f"illegal experiment transition {current} -> {new}")


def utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


# Charged seconds of one row: finished rows clip(used, 1, max); queued/running rows hold their full reservation.
CHARGE_SQL = (
    "CASE WHEN status_type IN ('completed','failed') THEN "
    "CASE WHEN used_runtime_seconds < 1 THEN 1.0 WHEN used_runtime_seconds > max_runtime_seconds "
    "THEN max_runtime_seconds ELSE used_runtime_seconds END ELSE max_runtime_seconds END"
)


@dataclass(frozen=True)
class ExperimentRow:
    id: int
    sunet_id: str
    unique_id: str
    training_config: dict
    max_runtime_seconds: float
    status_type: str
    status: dict
    queued_at: str


class Store:
    """Thread-safe data access. `url` is a SQLite path (or `sqlite:///path`) or a `postgresql://` URL."""

    def __init__(self, url: str | Path) -> None:
        url = str(url)
        self.is_postgres = url.startswith(("postgresql://", "postgres://"))
        self.url = url
        self._local = threading.local()
        self._all_conns: list[Any] = []
        self._lock = threading.Lock()
        if self.is_postgres:
            try:
                import psycopg  # noqa: F401
            except ImportError as exc:
                raise StoreError("PostgreSQL needs psycopg: install the `postgres` extra of cs336-scaling") from exc
        else:
            self.path = url.removeprefix("sqlite:///")
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._create_schema()

    def _connect(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self.is_postgres:
                import psycopg

                conn = psycopg.connect(self.url, autocommit=True)
            else:
                conn = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
            with self._lock:
                self._all_conns.append(conn)
        return conn

    def close(self) -> None:
        with self._lock:
            for conn in self._all_conns:
                conn.close()
            self._all_conns.clear()
        self._local = threading.local()

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.is_postgres else sql

    @contextmanager
    def transaction(self, *, write: bool = False) -> Iterator["Store._Tx"]:
        conn = self._connect()
        conn.execute("BEGIN IMMEDIATE" if (write and not self.is_postgres) else "BEGIN")
        try:
            yield Store._Tx(self, conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    class _Tx:
        def __init__(self, store: "Store", conn: Any) -> None:
            self.store, self.conn = store, conn

        def execute(self, sql: str, params: tuple = ()) -> Any:
            return self.conn.execute(self.store._sql(sql), params)

        def one(self, sql: str, params: tuple = ()) -> tuple | None:
            return self.execute(sql, params).fetchone()

        def all(self, sql: str, params: tuple = ()) -> list[tuple]:
            return list(self.execute(sql, params).fetchall())

    def _create_schema(self) -> None:
        pk = "BIGSERIAL PRIMARY KEY" if self.is_postgres else "INTEGER PRIMARY KEY AUTOINCREMENT"
        stmts = [
            "CREATE TABLE IF NOT EXISTS users (sunet_id TEXT PRIMARY KEY, api_key TEXT NOT NULL UNIQUE)",
            f"""CREATE TABLE IF NOT EXISTS experiments (
                id {pk}, sunet_id TEXT NOT NULL REFERENCES users(sunet_id), unique_id TEXT NOT NULL,
                training_config TEXT NOT NULL, max_runtime_seconds DOUBLE PRECISION NOT NULL,
                status_type TEXT NOT NULL, status TEXT NOT NULL, run_id TEXT,
                used_runtime_seconds DOUBLE PRECISION, queued_at TEXT NOT NULL,
                UNIQUE (sunet_id, unique_id))""",
            "CREATE INDEX IF NOT EXISTS experiments_status ON experiments (status_type)",
            f"""CREATE TABLE IF NOT EXISTS experiment_logs (
                id {pk}, experiment_id BIGINT NOT NULL, event TEXT NOT NULL, payload TEXT NOT NULL,
                created_at TEXT NOT NULL)""",
            """CREATE TABLE IF NOT EXISTS final_submissions (
                sunet_id TEXT PRIMARY KEY REFERENCES users(sunet_id), training_config TEXT NOT NULL,
                predicted_final_loss DOUBLE PRECISION NOT NULL, submitted_at TEXT NOT NULL)""",
        ]
        with self.transaction(write=True) as tx:
            for stmt in stmts:
                tx.execute(stmt)

    # users ---------------------------------------------------------------------------------------------------
    def add_user(self, sunet_id: str, api_key: str) -> None:
        with self.transaction(write=True) as tx:
            if tx.one("SELECT 1 FROM users WHERE sunet_id = ? OR api_key = ?", (sunet_id, api_key)):
                raise StoreError(f"user {sunet_id!r} or its API key already exists")
            tx.execute("INSERT INTO users (sunet_id, api_key) VALUES (?, ?)", (sunet_id, api_key))

    def seed_users(self, csv_path: str | Path) -> int:
        """Load a `sunet_id,api_key` CSV into an empty users table (refuses a non-empty one, like the course)."""
        rows = []
        with open(csv_path, newline="") as fh:
            for rec in csv.reader(fh):
                if not rec or rec[0].strip() in ("", "sunet_id"):
                    continue
                if len(rec) != 2:
                    raise StoreError(f"{csv_path}: expected 'sunet_id,api_key' rows, got {rec!r}")
                rows.append((rec[0].strip(), rec[1].strip()))
        with self.transaction(write=True) as tx:
            if tx.one("SELECT COUNT(*) FROM users")[0]:
                raise StoreError("refusing to seed users into a non-empty database")
            for row in rows:
                tx.execute("INSERT INTO users (sunet_id, api_key) VALUES (?, ?)", row)
        return len(rows)

    def user_for_key(self, api_key: str) -> str | None:
        with self.transaction() as tx:
            row = tx.one("SELECT sunet_id FROM users WHERE api_key = ?", (api_key,))
        return row[0] if row else None

    # budget and submit ---------------------------------------------------------------------------------------
    def used_seconds(self, sunet_id: str, tx: "_Tx | None" = None) -> float:
        sql = f"SELECT COALESCE(SUM({CHARGE_SQL}), 0) FROM experiments WHERE sunet_id = ?"
        if tx is not None:
            return float(tx.one(sql, (sunet_id,))[0])
        with self.transaction() as t:
            return float(t.one(sql, (sunet_id,))[0])

    def submit(
        self, sunet_id: str, unique_id: str, config: dict, max_runtime: float, total: float
    ) -> tuple[int, float]:
        """Insert a queued experiment; returns (id, used seconds including it). Budget is checked before duplicates."""
        with self.transaction(write=True) as tx:
            if self.is_postgres:
                tx.execute("SELECT sunet_id FROM users WHERE sunet_id = ? FOR UPDATE", (sunet_id,))
            used = self.used_seconds(sunet_id, tx)
            if max_runtime > total - used:
                raise OverBudgetError(used, total)
            if tx.one("SELECT id FROM experiments WHERE sunet_id = ? AND unique_id = ?", (sunet_id, unique_id)):
                raise DuplicateExperimentError("experiment already exists for this training config")
            now = utcnow()
            status = json.dumps({"status_type": "queued", "queued_at": now})
            exp_id = tx.one(
                "INSERT INTO experiments (sunet_id, unique_id, training_config, max_runtime_seconds, status_type, "
                "status, queued_at) VALUES (?, ?, ?, ?, 'queued', ?, ?) RETURNING id",
                (sunet_id, unique_id, json.dumps(config), max_runtime, status, now),
            )[0]
            self._log(tx, exp_id, "QueueEvent", {"queued_at": now})
            return int(exp_id), used + max_runtime

    def _log(self, tx: "_Tx", exp_id: int, event: str, payload: dict) -> None:
        tx.execute(
            "INSERT INTO experiment_logs (experiment_id, event, payload, created_at) VALUES (?, ?, ?, ?)",
            (exp_id, event, json.dumps(payload), utcnow()),
        )

    # experiments ---------------------------------------------------------------------------------------------
    _COLS = "id, sunet_id, unique_id, training_config, max_runtime_seconds, status_type, status, queued_at"

    @staticmethod
    def _row(r: tuple) -> ExperimentRow:
        return ExperimentRow(r[0], r[1], r[2], json.loads(r[3]), float(r[4]), r[5], json.loads(r[6]), r[7])

    def list_experiments(self, sunet_id: str) -> list[ExperimentRow]:
        with self.transaction() as tx:
            rows = tx.all(
                f"SELECT {self._COLS} FROM experiments WHERE sunet_id = ? ORDER BY queued_at ASC, id DESC", (sunet_id,)
            )
        return [self._row(r) for r in rows]

    def get_experiment(self, exp_id: int, sunet_id: str | None = None) -> ExperimentRow | None:
        with self.transaction() as tx:
            r = tx.one(f"SELECT {self._COLS} FROM experiments WHERE id = ?", (exp_id,))
        if r is None or (sunet_id is not None and r[1] != sunet_id):
            return None
        return self._row(r)

    def queued(self) -> list[tuple[int, str, str]]:
        with self.transaction() as tx:
            return [
                tuple(r) for r in tx.all("SELECT id, sunet_id, queued_at FROM experiments WHERE status_type = 'queued'")
            ]

    def running_counts(self) -> dict[str, int]:
        with self.transaction() as tx:
            rows = tx.all("SELECT sunet_id, COUNT(*) FROM experiments WHERE status_type = 'running' GROUP BY sunet_id")
        return {r[0]: int(r[1]) for r in rows}

    def fail_orphans(self, reason: str = "ServerRestart: the run's worker process is gone") -> list[int]:
        """Mark every running row failed/unexpected (charged 1 s): for a single server restarting after a crash,
        whose in-process workers died with it. Not for several servers sharing one PostgreSQL database."""
        with self.transaction() as tx:
            ids = [int(r[0]) for r in tx.all("SELECT id FROM experiments WHERE status_type = 'running'")]
        for exp_id in ids:
            self.finish_failed(exp_id, 1.0, {"reason": "unexpected", "failure": reason})
        return ids

    def _transition(self, exp_id: int, new: str, build: Any, event: str, payload: dict) -> dict:
        with self.transaction(write=True) as tx:
            r = tx.one("SELECT status_type, status FROM experiments WHERE id = ?", (exp_id,))
            if r is None:
                raise StoreError(f"experiment {exp_id} not found")
            check_transition(r[0], new)
            status = build(json.loads(r[1]))
            used = status.get("used_runtime_seconds")
            tx.execute(
                "UPDATE experiments SET status_type = ?, status = ?, run_id = ?, used_runtime_seconds = ? WHERE id = ?",
                (new, json.dumps(status), status.get("run_id"), used, exp_id),
            )
            self._log(tx, exp_id, event, payload)
            return status

    def mark_running(self, exp_id: int, run_id: str) -> dict:
        build = lambda s: {**s, "status_type": "running", "dispatched_at": utcnow(), "run_id": run_id, "val_losses": []}
        return self._transition(exp_id, "running", build, "RunStartedEvent", {"run_id": run_id})

    def record_val_losses(self, exp_id: int, run_id: str, val_losses: list[float]) -> bool:
        """Update a running row's curve; ignored (False) unless it is running under this run_id."""
        with self.transaction(write=True) as tx:
            r = tx.one("SELECT status_type, status FROM experiments WHERE id = ?", (exp_id,))
            if r is None or r[0] != "running" or json.loads(r[1]).get("run_id") != run_id:
                return False
            status = {**json.loads(r[1]), "val_losses": list(val_losses)}
            tx.execute("UPDATE experiments SET status = ? WHERE id = ?", (json.dumps(status), exp_id))
            return True

    def finish_completed(self, exp_id: int, used_runtime: float, val_losses: list[float]) -> dict:
        def build(s: dict) -> dict:
            return {**s, "status_type": "completed", "used_runtime_seconds": used_runtime,
                    "val_losses": list(val_losses), "completed_at": utcnow()}  # fmt: skip

        return self._transition(exp_id, "completed", build, "CompletedEvent", {"used_runtime_seconds": used_runtime})

    def finish_failed(self, exp_id: int, used_runtime: float, reason: dict) -> dict:
        def build(s: dict) -> dict:
            base = {k: v for k, v in s.items() if k != "val_losses"}
            return {**base, "status_type": "failed", "used_runtime_seconds": used_runtime, "reason": reason,
                    "failed_at": utcnow()}  # fmt: skip

        return self._transition(exp_id, "failed", build, "FailedEvent", {"reason": reason})

    # final submission ----------------------------------------------------------------------------------------
    def save_final(self, sunet_id: str, config: dict, loss: float) -> str:
        now = utcnow()
        with self.transaction(write=True) as tx:
            tx.execute("DELETE FROM final_submissions WHERE sunet_id = ?", (sunet_id,))
            tx.execute(
                "INSERT INTO final_submissions (sunet_id, training_config, predicted_final_loss, submitted_at) "
                "VALUES (?, ?, ?, ?)",
                (sunet_id, json.dumps(config), loss, now),
            )
        return now

    def get_final(self, sunet_id: str) -> tuple[dict, float, str] | None:
        with self.transaction() as tx:
            r = tx.one(
                "SELECT training_config, predicted_final_loss, submitted_at FROM final_submissions WHERE sunet_id = ?",
                (sunet_id,),
            )
        return (json.loads(r[0]), float(r[1]), r[2]) if r else None
