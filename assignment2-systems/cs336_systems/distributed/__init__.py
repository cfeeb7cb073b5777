"""From-scratch data parallelism on torch.distributed: DDP (overlapped, bucketed, naive and flat baselines), an
optimizer-state-sharding wrapper, and FSDP. Everything works with gloo on CPU and NCCL on GPUs."""

from cs336_systems.distributed.ddp import DDP, BucketedDDP, flat_sync_gradients, naive_sync_gradients
from cs336_systems.distributed.fsdp import FSDP
from cs336_systems.distributed.launch import DistInfo, dist_info, find_free_port, spawn
from cs336_systems.distributed.sharded_optimizer import ShardedOptimizer

__all__ = [
    "DDP",
    "FSDP",
    "BucketedDDP",
    "DistInfo",
    "ShardedOptimizer",
    "dist_info",
    "find_free_port",
    "flat_sync_gradients",
    "naive_sync_gradients",
    "spawn",
]
