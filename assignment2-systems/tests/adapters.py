"""Glue between the course's test suite and cs336_systems (imports and constructs only)."""

from __future__ import annotations

import torch
from torch import nn

_PART2 = "issue: Assignment 2 part 2 (DDP, FSDP, optimizer-state sharding)"


def get_flashattention_autograd_function_pytorch() -> type:
    from cs336_systems.flash_attention import FlashAttentionPytorch

    return FlashAttentionPytorch


def get_flashattention_autograd_function_triton() -> type:
    from cs336_systems.flash_attention import get_flash_attention_triton

    return get_flash_attention_triton()


def get_ddp(module: nn.Module) -> nn.Module:
    raise NotImplementedError(f"get_ddp: {_PART2}")


def ddp_on_after_backward(ddp_model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
    raise NotImplementedError(f"ddp_on_after_backward: {_PART2}")


def get_fsdp(module: nn.Module, compute_dtype: torch.dtype | None = None) -> nn.Module:
    raise NotImplementedError(f"get_fsdp: {_PART2}")


def fsdp_on_after_backward(fsdp_model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
    raise NotImplementedError(f"fsdp_on_after_backward: {_PART2}")


def fsdp_gather_full_params(fsdp_model: nn.Module) -> dict[str, torch.Tensor]:
    raise NotImplementedError(f"fsdp_gather_full_params: {_PART2}")


def get_sharded_optimizer(params, optimizer_cls: type[torch.optim.Optimizer], **kwargs) -> torch.optim.Optimizer:
    raise NotImplementedError(f"get_sharded_optimizer: {_PART2}")
