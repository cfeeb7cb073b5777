"""Process-group plumbing: rank/world info, a free TCP port, and `spawn` (N local processes on a fresh port).

`spawn(fn, world_size, *args)` starts `fn(rank, world_size, *args)` in `world_size` processes (start method
"spawn", so CUDA is safe and children re-import modules), each with the process group already initialised and
torn down afterwards (barrier, then destroy). The port is picked per call, so test suites can run back to back.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from cs336_systems.errors import ConfigError


@dataclass(frozen=True)
class DistInfo:
    rank: int
    world_size: int
    backend: str | None

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def dist_info() -> DistInfo:
    """Rank, world size and backend of the default group; (0, 1, None) when not initialised."""
    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(), dist.get_backend())
    return DistInfo(0, 1, None)


def find_free_port() -> int:
    """A TCP port that was free a moment ago (bind to port 0 and let the kernel choose)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world_size: int, port: int, backend: str, env: dict[str, str], fn: Callable, args: tuple):
    os.environ.update(env)
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    torch.set_num_threads(int(env.get("OMP_NUM_THREADS", torch.get_num_threads())))
    if backend == "nccl":
        torch.cuda.set_device(rank % torch.cuda.device_count())
    dist.init_process_group(backend, rank=rank, world_size=world_size)
    try:
        fn(rank, world_size, *args)
        dist.barrier()
    finally:
        dist.destroy_process_group()


def spawn(
    fn: Callable,
    world_size: int,
    *args,
    backend: str = "gloo",
    env: dict[str, str] | None = None,
) -> None:
    """Run `fn(rank, world_size, *args)` on `world_size` local ranks. `fn` must be importable (module level).

    `env` is applied in each child before anything runs (e.g. {"OMP_NUM_THREADS": "1"}). A failing rank raises
    here (torch.multiprocessing.ProcessRaisedException) and the others are terminated.
    """
    if world_size < 1:
        raise ConfigError(f"world_size must be >= 1, got {world_size}")
    if backend not in ("gloo", "nccl"):
        raise ConfigError(f"backend must be 'gloo' or 'nccl', got {backend!r}")
    mp.start_processes(
        _worker,
        args=(world_size, find_free_port(), backend, dict(env or {}), fn, args),
        nprocs=world_size,
        join=True,
        start_method="spawn",
    )
