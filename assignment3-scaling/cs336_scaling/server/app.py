"""FastAPI app of the training API, same HTTP contract as the course's 26.0.1 backend (spec §2.1).

    uv run cs336-scaling serve --db scaling.db --users users.csv          # then open http://127.0.0.1:8000/dashboard

Errors map to status codes here and only here: 400 budget, 401 key, 404 id, 409 duplicate, 422 schema. Bodies that
are not JSON, have unknown keys or out-of-range values are 422 with the offending field in `detail[*].loc`.
Deviation: a worker `finish` for a row that is not running answers 409 (the course answers 500).
"""

import secrets
from dataclasses import dataclass, field
from importlib import resources
from typing import Annotated

from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse

from cs336_scaling.api import (
    MAX_RUNTIME_SECONDS,
    BudgetSummary,
    CompletedPayload,
    ExperimentResponse,
    FailedPayload,
    FinalSubmissionRequest,
    FinalSubmissionResponse,
    SubmitResponse,
    TrainingConfig,
)
from cs336_scaling.server.store import DuplicateExperimentError, InvalidTransitionError, OverBudgetError, Store

MAX_DB_ID = 2**63 - 1


@dataclass(frozen=True, kw_only=True)
class Settings:
    db_url: str = "scaling.db"
    total_budget_seconds: float = MAX_RUNTIME_SECONDS
    internal_api_key: str | None = None
    cors_origins: tuple[str, ...] = field(default=("http://localhost", "http://127.0.0.1"))
    classic_world_seed: int | None = None  # set to enable the 2024/2025 FLOPs API (server/legacy.py)


def create_app(settings: Settings | None = None, *, store: Store | None = None) -> FastAPI:
    """Build the app; `store` lets embedded mode and tests share one Store with a dispatcher."""
    settings = settings or Settings()
    store = store or Store(settings.db_url)
    app = FastAPI(title="CS336 Assignment 3 Backend")
    app.state.store, app.state.settings = store, settings
    app.add_middleware(
        CORSMiddleware,
        allow_origin_regex=r"https?://(localhost|127\.0\.0\.1|[\w.-]*hyperturing[\w.-]*)(:\d+)?",
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["X-API-Key", "Content-Type"],
    )

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        # Keep loc/msg/type only: `ctx` may hold exception objects that are not JSON serialisable.
        errors = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        return JSONResponse(status_code=422, content={"detail": errors})

    def user(x_api_key: Annotated[str | None, Header()] = None) -> str:
        if not x_api_key:
            raise HTTPException(401, "missing X-API-Key")
        sunet_id = store.user_for_key(x_api_key)
        if sunet_id is None:
            raise HTTPException(401, "invalid API key")
        return sunet_id

    User = Annotated[str, Depends(user)]

    def summary(used: float) -> dict:
        total = settings.total_budget_seconds
        return {"used_seconds": used, "remaining_seconds": total - used, "total_budget_seconds": total}

    @app.post("/submit", response_model=SubmitResponse)
    def submit(cfg: TrainingConfig, sunet_id: User) -> dict:
        try:
            exp_id, used = store.submit(
                sunet_id, cfg.unique_id, cfg.model_dump(mode="json"), cfg.max_runtime_seconds,
                settings.total_budget_seconds,
            )  # fmt: skip
        except OverBudgetError as exc:
            detail = {"message": "insufficient budget", "budget_summary": summary(exc.used)}
            raise HTTPException(400, detail) from exc
        except DuplicateExperimentError as exc:
            raise HTTPException(409, "experiment already exists for this training config") from exc
        return {"experiment_id": exp_id, "budget_summary": summary(used)}

    @app.get("/budget", response_model=BudgetSummary)
    def budget(sunet_id: User) -> dict:
        return summary(store.used_seconds(sunet_id))

    @app.get("/experiments", response_model=list[ExperimentResponse])
    def experiments(sunet_id: User) -> list[dict]:
        return [
            {"experiment_id": r.id, "training_config": r.training_config, "status": r.status}
            for r in store.list_experiments(sunet_id)
        ]

    @app.get("/experiment/{experiment_id}", response_model=ExperimentResponse)
    def experiment(experiment_id: int, sunet_id: User) -> dict:
        row = store.get_experiment(experiment_id, sunet_id) if 0 < experiment_id <= MAX_DB_ID else None
        if row is None:
            raise HTTPException(404, "not found")
        return {"experiment_id": row.id, "training_config": row.training_config, "status": row.status}

    @app.post("/final_submission", response_model=FinalSubmissionResponse)
    def save_final(body: FinalSubmissionRequest, sunet_id: User) -> dict:
        cfg = body.training_config.model_dump(mode="json")
        at = store.save_final(sunet_id, cfg, body.predicted_final_loss)
        return {"training_config": cfg, "predicted_final_loss": body.predicted_final_loss, "submitted_at": at}

    @app.get("/final_submission", response_model=FinalSubmissionResponse | None)
    def get_final(sunet_id: User) -> dict | None:
        got = store.get_final(sunet_id)
        if got is None:
            return None
        return {"training_config": got[0], "predicted_final_loss": got[1], "submitted_at": got[2]}

    @app.get("/dashboard", response_class=HTMLResponse)
    def dashboard() -> str:
        return resources.files("cs336_scaling.server").joinpath("dashboard.html").read_text()

    if settings.classic_world_seed is not None:
        from cs336_scaling.backends.world import World
        from cs336_scaling.server.legacy import create_legacy_router

        app.include_router(create_legacy_router(store, World.sample(settings.classic_world_seed)))

    # internal worker routes (parity with the course; hidden from the schema) --------------------------------
    def internal(x_internal_key: Annotated[str | None, Header()] = None) -> None:
        expected = settings.internal_api_key
        if not expected or not x_internal_key or not secrets.compare_digest(x_internal_key, expected):
            raise HTTPException(403, "invalid internal key")

    Internal = Annotated[None, Depends(internal)]

    @app.post("/internal/worker/{experiment_id}/finish", include_in_schema=False)
    def finish(experiment_id: int, body: CompletedPayload | FailedPayload, _: Internal) -> dict:
        if store.get_experiment(experiment_id) is None:
            raise HTTPException(404, "not found")
        try:
            if isinstance(body, CompletedPayload):
                status = store.finish_completed(experiment_id, body.used_runtime_seconds, body.val_losses)
            else:
                status = store.finish_failed(experiment_id, body.used_runtime_seconds, body.reason.model_dump())
        except InvalidTransitionError as exc:
            raise HTTPException(409, str(exc)) from exc
        return status

    return app
