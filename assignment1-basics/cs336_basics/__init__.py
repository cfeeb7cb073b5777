"""CS336 assignment 1: tokenizer, Transformer LM and training."""

__all__: list[str] = []
