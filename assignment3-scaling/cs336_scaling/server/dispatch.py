"""In-process dispatcher: fair-share selection (spec §2.5) and a thread pool of workers instead of Modal.

`select_experiments_for_dispatch` is the course's SQL CTE as a pure function. `Dispatcher.start()` runs a loop
thread; `Dispatcher.drain()` runs everything queued synchronously (embedded mode, tests, notebooks).
"""

import logging
import threading
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime

from cs336_scaling.api import TrainingConfig
from cs336_scaling.backends import TrainingBackend
from cs336_scaling.server.store import Store

logger = logging.getLogger(__name__)


def select_experiments_for_dispatch(
    queued: list[tuple[int, str, str | datetime]], running_counts: dict[str, int], capacity: int
) -> list[int]:
    """Rank queued rows by running(user) + rank-in-user-queue − 1, then queued_at, then id; take `capacity`."""
    if capacity <= 0:
        return []
    by_user: dict[str, list[tuple[int, str, str | datetime]]] = {}
    for row in sorted(queued, key=lambda r: (r[2], r[0])):
        by_user.setdefault(row[1], []).append(row)
    ranked = []
    for user, rows in by_user.items():
        for rank, (exp_id, _, queued_at) in enumerate(rows, start=1):
            ranked.append((running_counts.get(user, 0) + rank - 1, queued_at, exp_id))
    ranked.sort()
    return [r[2] for r in ranked[:capacity]]


class Dispatcher:
    def __init__(self, store: Store, backend: TrainingBackend, *, max_workers: int = 2, interval_s: float = 1.0):
        self.store, self.backend = store, backend
        self.max_workers, self.interval_s = max_workers, interval_s
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="cs336-worker")
        self._futures: set[Future] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.worker_errors = 0

    def dispatch_once(self) -> list[int]:
        """Select and start experiments up to free capacity; returns the ids started."""
        with self._lock:
            self._futures = {f for f in self._futures if not f.done()}
            running = self.store.running_counts()
            capacity = self.max_workers - sum(running.values())
            chosen = select_experiments_for_dispatch(self.store.queued(), running, capacity)
            for exp_id in chosen:
                run_id = f"local-{uuid.uuid4().hex[:12]}"
                self.store.mark_running(exp_id, run_id)
                self._futures.add(self._pool.submit(self._work, exp_id, run_id))
            return chosen

    def _work(self, exp_id: int, run_id: str) -> None:
        row = self.store.get_experiment(exp_id)
        assert row is not None
        cfg = TrainingConfig.model_validate(row.training_config)
        try:
            result = self.backend.run(cfg, lambda losses: self.store.record_val_losses(exp_id, run_id, losses))
        except Exception as exc:  # boundary: any backend crash becomes a failed run charged 1 s (course rule)
            self.worker_errors += 1
            logger.exception("experiment %d crashed", exp_id)
            self.store.finish_failed(exp_id, 1.0, {"reason": "unexpected", "failure": f"{type(exc).__name__}: {exc}"})
            return
        if result.status == "completed":
            self.store.finish_completed(exp_id, result.used_runtime_seconds, result.val_losses)
        elif result.status == "timeout":
            reason = {"reason": "timeout", "partial_val_losses": result.val_losses}
            self.store.finish_failed(exp_id, result.used_runtime_seconds, reason)
        else:
            reason = {"reason": "unexpected", "failure": result.failure or "unknown"}
            self.store.finish_failed(exp_id, result.used_runtime_seconds, reason)

    def drain(self) -> None:
        """Dispatch and wait until nothing is queued or running (synchronous embedded mode)."""
        while True:
            started = self.dispatch_once()
            with self._lock:
                pending = [f for f in self._futures if not f.done()]
            if not started and not pending and not self.store.queued():
                return
            for f in pending:
                f.result()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="cs336-dispatcher", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.dispatch_once()
            except Exception:  # boundary: keep the loop alive; counted and logged
                self.worker_errors += 1
                logger.exception("dispatch failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self._pool.shutdown(wait=True)
