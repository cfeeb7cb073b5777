"""CS336 assignment 2: FlashAttention-2, benchmarking and distributed training."""

__all__: list[str] = []
