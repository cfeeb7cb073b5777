"""Optional "classic mode": the 2024/2025 synchronous FLOPs API as a thin façade over the simulated surface (spec §1.7).

    GET /loss?d_model=&num_layers=&num_heads=&batch_size=&learning_rate=&train_flops=&api_key=
        -> {"loss", "total_flops_used"}; identical queries are free (a real cache)
    GET /total_flops_used?api_key=   -> float
    GET /previous_runs?api_key=      -> {"previous_runs": [{...query, "loss"}]}

Ranges as in the legacy handout: d_model 64–1024, layers 2–24, heads 2–16, batch 128 or 256, lr 1e-4–1e-3,
train_flops from {1,3,6}×10^13 … {1,3,6}×10^17 and 1e18; budget 2e18 FLOPs (400 when a query would exceed it).
The loss is the world's surface with N = 12·L·d², D = C/(6N), the world's LR penalty and init noise; the legacy
model (GPT-2 style, SlimPajama) is not modelled separately.
"""

import hashlib
import json
import math
from typing import Annotated

import numpy as np
from fastapi import APIRouter, HTTPException, Query

from cs336_scaling.backends.simulated import base_loss, optimal_lr
from cs336_scaling.backends.world import World
from cs336_scaling.server.store import Store, utcnow

LEGACY_BUDGET_FLOPS = 2e18
TRAIN_FLOPS_GRID = tuple(sorted({m * 10**e for e in range(13, 18) for m in (1, 3, 6)} | {10**18}))


def legacy_loss(world: World, d_model: int, num_layers: int, batch_size: int, learning_rate: float, flops: float):
    """Noise-free surface value plus the seeded init noise of this exact query."""
    n = 12 * num_layers * d_model**2
    d = flops / (6 * n)
    loss = base_loss(world, n, d, batch_size * 1024) + world.k_lr * math.log(learning_rate / optimal_lr(world, n)) ** 2
    key = f"{world.world_seed}:{d_model}:{num_layers}:{batch_size}:{learning_rate!r}:{flops!r}"
    seed = int.from_bytes(hashlib.blake2s(key.encode(), digest_size=8).digest(), "little")
    return float(loss + world.seed_noise * np.random.default_rng(seed).standard_normal())


def create_legacy_router(store: Store, world: World) -> APIRouter:
    router = APIRouter(tags=["classic"])
    with store.transaction(write=True) as tx:
        tx.execute(
            "CREATE TABLE IF NOT EXISTS legacy_runs (sunet_id TEXT NOT NULL, query_key TEXT NOT NULL, "
            "query TEXT NOT NULL, loss DOUBLE PRECISION NOT NULL, train_flops DOUBLE PRECISION NOT NULL, "
            "created_at TEXT NOT NULL, UNIQUE (sunet_id, query_key))"
        )

    def user(api_key: str) -> str:
        sunet_id = store.user_for_key(api_key)
        if sunet_id is None:
            raise HTTPException(401, "invalid API key")
        return sunet_id

    def used(tx: Store._Tx, sunet_id: str) -> float:
        return float(tx.one("SELECT COALESCE(SUM(train_flops), 0) FROM legacy_runs WHERE sunet_id = ?", (sunet_id,))[0])

    @router.get("/loss")
    def loss(
        d_model: Annotated[int, Query(ge=64, le=1024)],
        num_layers: Annotated[int, Query(ge=2, le=24)],
        num_heads: Annotated[int, Query(ge=2, le=16)],
        batch_size: Annotated[int, Query()],
        learning_rate: Annotated[float, Query(ge=1e-4, le=1e-3)],
        train_flops: Annotated[float, Query()],
        api_key: Annotated[str, Query()],
    ) -> dict:
        if batch_size not in (128, 256):
            raise HTTPException(422, [{"loc": ["query", "batch_size"], "msg": "must be 128 or 256", "type": "value"}])
        if not any(math.isclose(train_flops, g, rel_tol=1e-9) for g in TRAIN_FLOPS_GRID):
            msg = "must be one of {1,3,6}e13 … {1,3,6}e17 or 1e18"
            raise HTTPException(422, [{"loc": ["query", "train_flops"], "msg": msg, "type": "value"}])
        if d_model % num_heads:
            msg = f"d_model ({d_model}) must be divisible by num_heads ({num_heads})"
            raise HTTPException(422, [{"loc": ["query", "num_heads"], "msg": msg, "type": "value"}])
        sunet_id = user(api_key)
        query = dict(d_model=d_model, num_layers=num_layers, num_heads=num_heads, batch_size=batch_size,
                     learning_rate=learning_rate, train_flops=train_flops)  # fmt: skip
        key = json.dumps(query, sort_keys=True)
        with store.transaction(write=True) as tx:
            if store.is_postgres:
                tx.execute("SELECT sunet_id FROM users WHERE sunet_id = ? FOR UPDATE", (sunet_id,))
            row = tx.one("SELECT loss FROM legacy_runs WHERE sunet_id = ? AND query_key = ?", (sunet_id, key))
            if row is not None:  # cached: free
                return {"loss": float(row[0]), "total_flops_used": used(tx, sunet_id)}
            spent = used(tx, sunet_id)
            if spent + train_flops > LEGACY_BUDGET_FLOPS * (1 + 1e-12):
                raise HTTPException(400, f"FLOPs budget exceeded: used {spent:.3g} of {LEGACY_BUDGET_FLOPS:.3g}")
            value = legacy_loss(world, d_model, num_layers, batch_size, learning_rate, train_flops)
            tx.execute(
                "INSERT INTO legacy_runs (sunet_id, query_key, query, loss, train_flops, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (sunet_id, key, key, value, train_flops, utcnow()),
            )
            return {"loss": value, "total_flops_used": spent + train_flops}

    @router.get("/total_flops_used")
    def total_flops_used(api_key: Annotated[str, Query()]) -> float:
        sunet_id = user(api_key)
        with store.transaction() as tx:
            return used(tx, sunet_id)

    @router.get("/previous_runs")
    def previous_runs(api_key: Annotated[str, Query()]) -> dict:
        sunet_id = user(api_key)
        with store.transaction() as tx:
            rows = tx.all("SELECT query, loss FROM legacy_runs WHERE sunet_id = ? ORDER BY created_at", (sunet_id,))
        return {"previous_runs": [{**json.loads(q), "loss": float(v)} for q, v in rows]}

    return router
