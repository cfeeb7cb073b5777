"""Client of the training API (the course's functions, spec §2.6) plus `wait_for` and an in-process EmbeddedClient.

    from cs336_scaling.client import EmbeddedClient
    with EmbeddedClient() as api:                   # server + dispatcher + simulated backend, no sockets
        exp = api.submit_experiment(cfg); api.wait_for(exp.experiment_id)

`Client()` reads the base URL from $A3_API_BASE_URL (default http://127.0.0.1:8000) and the key from $A3_API_KEY.
Every reply is validated into the pydantic types; an HTTP error becomes ApiClientError (a RuntimeError) carrying the
status code and the server's detail. Deviation: keys are not restricted to 8-digit student ids.
"""

import os
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from cs336_scaling.api import (
    BudgetSummary,
    ExperimentResponse,
    FinalSubmissionRequest,
    FinalSubmissionResponse,
    SubmitResponse,
    TrainingConfig,
)
from cs336_scaling.errors import ApiClientError, ConfigError

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
TERMINAL = ("completed", "failed")


class Client:
    def __init__(self, base_url: str | None = None, api_key: str | None = None, *, timeout_s: float = 30.0) -> None:
        key = api_key or os.environ.get("A3_API_KEY")
        if not key:
            raise ConfigError("no API key: pass api_key or set A3_API_KEY")
        self.base_url = base_url or os.environ.get("A3_API_BASE_URL", DEFAULT_BASE_URL)
        self._http: Any = httpx.Client(base_url=self.base_url, headers={"X-API-Key": key}, timeout=timeout_s)

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        try:
            resp = self._http.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise ApiClientError(f"cannot reach the API at {self.base_url}: {exc}") from exc
        if resp.status_code >= 400:
            raise ApiClientError(f"HTTP {resp.status_code} {method} {path}: {resp.text}", status_code=resp.status_code)
        return resp.json()

    def get_budget(self) -> BudgetSummary:
        return BudgetSummary.model_validate(self._call("GET", "/budget"))

    def submit_experiment(self, cfg: TrainingConfig | dict) -> SubmitResponse:
        body = cfg.model_dump(mode="json") if isinstance(cfg, TrainingConfig) else cfg
        return SubmitResponse.model_validate(self._call("POST", "/submit", body))

    def list_experiments(self) -> list[ExperimentResponse]:
        return [ExperimentResponse.model_validate(e) for e in self._call("GET", "/experiments")]

    def get_experiment(self, experiment_id: int) -> ExperimentResponse:
        return ExperimentResponse.model_validate(self._call("GET", f"/experiment/{int(experiment_id)}"))

    def save_final_submission(self, cfg: TrainingConfig, predicted_final_loss: float) -> FinalSubmissionResponse:
        req = FinalSubmissionRequest(training_config=cfg, predicted_final_loss=predicted_final_loss)
        return self.save_final_submission_json(req.model_dump(mode="json"))

    def save_final_submission_json(self, obj: dict) -> FinalSubmissionResponse:
        return FinalSubmissionResponse.model_validate(self._call("POST", "/final_submission", obj))

    def get_final_submission(self) -> FinalSubmissionResponse | None:
        got = self._call("GET", "/final_submission")
        return None if got is None else FinalSubmissionResponse.model_validate(got)

    def wait_for(self, experiment_id: int, *, poll_s: float = 2.0, timeout_s: float = 24 * 3600) -> ExperimentResponse:
        """Poll until the experiment is completed or failed."""
        deadline = time.monotonic() + timeout_s
        while True:
            exp = self.get_experiment(experiment_id)
            if exp.status.status_type in TERMINAL:
                return exp
            if time.monotonic() > deadline:
                raise ApiClientError(f"experiment {experiment_id} still {exp.status.status_type} after {timeout_s} s")
            time.sleep(poll_s)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EmbeddedClient(Client):
    """Server, dispatcher and backend in this process (no sockets). Runs execute synchronously inside `wait_for`
    and `run_pending`, so with the simulated backend a whole study takes seconds."""

    def __init__(
        self,
        db_path: str | Path | None = None,
        *,
        backend: Any = None,
        api_key: str = "12345678",
        sunet_id: str = "student",
        total_budget_seconds: float | None = None,
    ) -> None:
        from fastapi.testclient import TestClient

        from cs336_scaling.backends.simulated import SimulatedBackend
        from cs336_scaling.server.app import Settings, create_app
        from cs336_scaling.server.dispatch import Dispatcher
        from cs336_scaling.server.store import Store

        self._tmp = None
        if db_path is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="cs336-embedded-")
            db_path = Path(self._tmp.name) / "scaling.db"
        settings = Settings(db_url=str(db_path))
        if total_budget_seconds is not None:
            settings = Settings(db_url=str(db_path), total_budget_seconds=total_budget_seconds)
        self.store = Store(settings.db_url)
        if self.store.user_for_key(api_key) is None:
            self.store.add_user(sunet_id, api_key)
        self.backend = backend or SimulatedBackend()
        self.dispatcher = Dispatcher(self.store, self.backend, max_workers=1)
        self.app = create_app(settings, store=self.store)
        self.base_url = "embedded"
        self._http = TestClient(self.app, base_url="http://embedded", headers={"X-API-Key": api_key})

    def run_pending(self) -> None:
        self.dispatcher.drain()

    def wait_for(self, experiment_id: int, *, poll_s: float = 0.0, timeout_s: float = 60.0) -> ExperimentResponse:
        self.dispatcher.drain()
        return super().wait_for(experiment_id, poll_s=poll_s, timeout_s=timeout_s)

    def close(self) -> None:
        self.dispatcher.stop()
        self._http.close()
        self.store.close()
        if self._tmp is not None:
            self._tmp.cleanup()
