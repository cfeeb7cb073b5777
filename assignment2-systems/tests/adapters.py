"""Glue between the course's test suite and cs336_systems (imports and constructs only)."""

from __future__ import annotations

import torch
from torch import nn


def get_flashattention_autograd_function_pytorch() -> type:
    from cs336_systems.flash_attention import FlashAttentionPytorch

    return FlashAttentionPytorch


def get_flashattention_autograd_function_triton() -> type:
    from cs336_systems.flash_attention import get_flash_attention_triton

    return get_flash_attention_triton()


def get_ddp(module: nn.Module) -> nn.Module:
    from cs336_systems.distributed import DDP

    return DDP(module)


def ddp_on_after_backward(ddp_model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
    ddp_model.finish_gradient_synchronization()


def get_fsdp(module: nn.Module, compute_dtype: torch.dtype | None = None) -> nn.Module:
    from cs336_systems.distributed import FSDP

    return FSDP(module, compute_dtype=compute_dtype)


def fsdp_on_after_backward(fsdp_model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
    fsdp_model.finish_gradient_synchronization()


def fsdp_gather_full_params(fsdp_model: nn.Module) -> dict[str, torch.Tensor]:
    return fsdp_model.gather_full_params()


def get_sharded_optimizer(params, optimizer_cls: type[torch.optim.Optimizer], **kwargs) -> torch.optim.Optimizer:
    from cs336_systems.distributed import ShardedOptimizer

    return ShardedOptimizer(params, optimizer_cls, **kwargs)
