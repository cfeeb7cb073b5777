"""`--parallel ddp` and `--parallel fsdp` for the assignment 1 training loop (`cs336-basics train`).

Importing this module registers both strategies with `cs336_basics.parallel`; the A1 loop imports it by name the
first time a run asks for one, so assignment 1 never depends on this package.

    torchrun --standalone --nproc-per-node 8 -m cs336_basics train --config cfg.toml --parallel fsdp

Process setup comes from torchrun's environment (RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT; a
multi-node rendezvous sets the same variables). CUDA ranks use NCCL on `cuda:LOCAL_RANK` with NVLink SHARP
(multicast) off unless NCCL_NVLS_ENABLE is already set; CPU ranks use gloo.

- ddp: our overlapped `DDP` (or `BucketedDDP` when run.ddp_bucket_mb > 0). Gradient accumulation runs the
  non-final micro-steps under `no_sync()`, so gradients are all-reduced once per optimizer step.
- fsdp: our `FSDP`. Every micro-step reduce-scatters its weight gradients and adds them to the sharded fp32 `.grad`
  (memory stays sharded, at the cost of one reduce-scatter per micro-step instead of one per step). Clipping uses
  the global norm: squared norms of the shards are summed over ranks, replicated parameters are counted once.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch
import torch.distributed as dist

from cs336_basics.config import TrainConfig
from cs336_basics.errors import ConfigError  # raised into the A1 CLI, which reports BasicsErrors in one line
from cs336_basics.parallel import Parallelism, register_parallelism
from cs336_systems.distributed.ddp import DDP, BucketedDDP
from cs336_systems.distributed.fsdp import FSDP

_TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
_OPS = {"sum": dist.ReduceOp.SUM, "max": dist.ReduceOp.MAX}


class _DataParallel(Parallelism):
    """Process group and collectives shared by ddp and fsdp."""

    def __init__(self, cfg: TrainConfig) -> None:
        super().__init__(cfg)
        if cfg.run.device == "mps":
            raise ConfigError(f"--parallel {self.name} runs on cpu (gloo) or cuda (nccl), not mps")
        self._owns_group = False

    def setup(self) -> torch.device:
        if not dist.is_initialized():
            missing = [k for k in _TORCHRUN_VARS if k not in os.environ]
            if missing:
                raise ConfigError(
                    f"--parallel {self.name} runs one process per rank under torchrun, but {', '.join(missing)} "
                    f"is not set; launch with: torchrun --standalone --nproc-per-node N -m cs336_basics train "
                    f"... --parallel {self.name} (or pass --parallel none for one process)"
                )
        device = self._pick_device(int(os.environ.get("LOCAL_RANK", "0")))
        if not dist.is_initialized():
            if device.type == "cuda":
                os.environ.setdefault("NCCL_NVLS_ENABLE", "0")
                dist.init_process_group("nccl", device_id=device)  # binds the rank's GPU (barriers, objects)
            else:
                dist.init_process_group("gloo")
            self._owns_group = True
        self.rank, self.world_size = dist.get_rank(), dist.get_world_size()
        return device

    def _pick_device(self, local_rank: int) -> torch.device:
        want = self.cfg.run.device
        if want == "cpu" or (want == "auto" and not torch.cuda.is_available()):
            return torch.device("cpu")
        if not torch.cuda.is_available():
            raise ConfigError("--device cuda was requested but torch sees no CUDA device")
        count = torch.cuda.device_count()
        if local_rank >= count:
            raise ConfigError(
                f"LOCAL_RANK {local_rank} has no GPU: {count} visible; use --nproc-per-node <= {count} per node"
            )
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)

    def all_reduce(self, tensor: torch.Tensor, op: str = "sum") -> torch.Tensor:
        dist.all_reduce(tensor, op=_OPS[op])
        return tensor

    def broadcast_object(self, obj):
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        dist.barrier()

    def close(self) -> None:
        if self._owns_group and dist.is_initialized():
            dist.destroy_process_group()
            self._owns_group = False


class DDPParallel(_DataParallel):
    """Replicated model; gradients averaged once per optimizer step (after the last micro-step)."""

    name = "ddp"

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        if self.cfg.run.ddp_bucket_mb > 0:
            return BucketedDDP(model, bucket_size_mb=self.cfg.run.ddp_bucket_mb)
        return DDP(model)

    @contextlib.contextmanager
    def micro_step(self, wrapped: torch.nn.Module, last: bool) -> Iterator[None]:
        if not last:
            with wrapped.no_sync():
                yield
            return
        yield
        wrapped.finish_gradient_synchronization()

    def full_state_dict(self, wrapped: torch.nn.Module, model: torch.nn.Module) -> dict[str, torch.Tensor] | None:
        return model.state_dict() if self.is_main else None


class FSDPParallel(_DataParallel):
    """Linear/Embedding weights sharded over ranks (dim 0), the rest replicated."""

    name = "fsdp"

    def __init__(self, cfg: TrainConfig) -> None:
        super().__init__(cfg)
        if cfg.run.compile:
            raise ConfigError(
                "run.compile is not supported with --parallel fsdp (weights are gathered inside forward); "
                "use --parallel ddp or --set run.compile=false"
            )

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        return FSDP(model)

    @contextlib.contextmanager
    def micro_step(self, wrapped: torch.nn.Module, last: bool) -> Iterator[None]:
        yield
        wrapped.finish_gradient_synchronization()  # reduce-scatter now; shards accumulate in .grad

    def shard_layout(self, wrapped: torch.nn.Module) -> dict[str, tuple[int, int]]:
        return wrapped.shard_layout()

    def clip_grad_norm(self, wrapped: torch.nn.Module, max_norm: float, eps: float = 1e-6) -> torch.Tensor:
        """A1's clipping rule (scale by max_norm / (norm + eps), capped at 1) on the global norm over all ranks."""
        sharded = set(wrapped.shard_layout())
        grads = {n: p.grad for n, p in wrapped.module.named_parameters() if p.grad is not None}
        if not grads:
            return torch.zeros(())
        device = next(iter(grads.values())).device

        def sum_sq(names) -> torch.Tensor:
            total = torch.zeros((), device=device, dtype=torch.float32)
            for n in names:
                total += torch.linalg.vector_norm(grads[n], dtype=torch.float32).square()
            return total

        squares = self.all_reduce(sum_sq(n for n in grads if n in sharded))
        norm = (squares + sum_sq(n for n in grads if n not in sharded)).sqrt()
        if max_norm != float("inf"):
            scale = (max_norm / (norm + eps)).clamp(max=1.0)
            for g in grads.values():
                g.mul_(scale.to(g.dtype))
        return norm

    def full_state_dict(self, wrapped: torch.nn.Module, model: torch.nn.Module) -> dict[str, torch.Tensor] | None:
        full = wrapped.gather_full_params()  # collective
        if not self.is_main:
            return None
        name_of = {id(p): n for n, p in model.named_parameters()}
        state = model.state_dict()  # buffers and replicated tensors as they are
        for n, p in model.named_parameters(remove_duplicate=False):  # tied weights under every name
            state[n] = full[name_of[id(p)]]
        return state


register_parallelism("ddp", DDPParallel)
register_parallelism("fsdp", FSDPParallel)
