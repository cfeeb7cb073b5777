"""CS336 assignment 5: SFT, expert iteration, GRPO and DPO."""

__all__: list[str] = []
