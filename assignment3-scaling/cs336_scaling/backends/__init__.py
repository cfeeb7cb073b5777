"""Training backends: `simulated` (analytic loss surface, virtual clock) and `local` (real training of the A1 model).

A backend runs one TrainingConfig and reports validation losses chunk by chunk (spec §4.1):
`backend.run(cfg, on_val_losses) -> RunResult`.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

from cs336_scaling.api import TrainingConfig


@dataclass(frozen=True)
class RunResult:
    status: Literal["completed", "timeout", "unexpected"]
    val_losses: list[float]
    used_runtime_seconds: float
    failure: str | None = None
    chunk_seconds: list[float] = field(default_factory=list)


class TrainingBackend(Protocol):
    name: str

    def run(self, cfg: TrainingConfig, on_val_losses: Callable[[list[float]], None]) -> RunResult: ...


def make_backend(name: str, **kwargs: object) -> TrainingBackend:
    """Build a backend by name; `local` is imported lazily (it needs torch and cs336_basics' model)."""
    from cs336_scaling.errors import ConfigError

    if name == "simulated":
        from cs336_scaling.backends.simulated import SimulatedBackend

        return SimulatedBackend(**kwargs)  # type: ignore[arg-type]
    if name == "local":
        from cs336_scaling.backends.local import LocalBackend

        return LocalBackend(**kwargs)  # type: ignore[arg-type]
    raise ConfigError(f"unknown backend {name!r}; expected 'simulated' or 'local'")
