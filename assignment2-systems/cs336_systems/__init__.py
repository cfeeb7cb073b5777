"""CS336 assignment 2: FlashAttention-2, benchmarking and distributed training.

Importing the package registers the "flash_triton" and "flash_torch" attention backends with the assignment 1 model;
Triton itself is imported only when a Triton path runs.
"""

from cs336_systems.attention_backends import register_flash_backends
from cs336_systems.flash_attention import FlashAttentionPytorch, flash_attention

register_flash_backends()

__all__ = ["FlashAttentionPytorch", "FlashAttentionTriton", "flash_attention", "register_flash_backends"]


def __getattr__(name: str):
    if name == "FlashAttentionTriton":
        from cs336_systems.flash_attention import get_flash_attention_triton

        return get_flash_attention_triton()
    raise AttributeError(name)
