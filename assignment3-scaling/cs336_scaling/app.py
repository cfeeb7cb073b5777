"""`cs336_scaling.app:app`: the API app for ASGI servers (`uvicorn cs336_scaling.app:app`); DB from $CS336_SCALING_DB.

No import side effects beyond building the app lazily on first attribute access.
"""

import os

from fastapi import FastAPI

from cs336_scaling.server.app import Settings, create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> FastAPI:
    if name == "app":
        return create_app(Settings(db_url=os.environ.get("CS336_SCALING_DB", "scaling.db")))
    raise AttributeError(name)
