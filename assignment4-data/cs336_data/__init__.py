"""CS336 assignment 4: filtering and deduplicating web data."""

__all__: list[str] = []
