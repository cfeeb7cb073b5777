"""CS336 assignment 3: scaling laws and a local training API."""

__all__: list[str] = []
