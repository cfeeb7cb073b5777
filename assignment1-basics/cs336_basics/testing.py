"""Pytest plugin shared by all five assignment suites.

Each assignment's root `conftest.py` loads it with `pytest_plugins = ["cs336_basics.testing"]`, so the markers,
the resource-based skips and the `shared_data` fixture behave the same everywhere:

- markers `slow`, `gpu`, `multigpu`, `triton`, `needs_data`, `needs_network` are registered (suites run with
  `--strict-markers`);
- a test whose resource is missing is skipped with a reason, so a fresh clone with no GPU and no `../shared`
  still passes;
- `shared_data` is the `shared/data` folder next to the repository (override with `CS336_SHARED_DATA`).
"""

import os
import socket
from pathlib import Path

import pytest

MARKERS = {
    "slow": "takes more than about 10 s",
    "gpu": "needs a CUDA device",
    "multigpu": "needs two or more CUDA devices",
    "triton": "needs a Triton GPU backend",
    "needs_data": "needs the shared data folder (../shared/data from the repository root)",
    "needs_network": "needs internet access",
}


def find_shared_data(start: Path | None = None) -> Path | None:
    """Locate `shared/data`: `$CS336_SHARED_DATA`, else the first `shared/data` or `../shared/data` above `start`."""
    env = os.environ.get("CS336_SHARED_DATA")
    if env:
        path = Path(env)
        return path if path.is_dir() else None
    here = (start or Path(__file__)).resolve()
    for parent in [here, *here.parents]:
        for candidate in (parent / "shared" / "data", parent.parent / "shared" / "data"):
            if candidate.is_dir() and (candidate / "README.md").exists():
                return candidate
    return None


def _cuda_device_count() -> int:
    try:
        import torch
    except ImportError:
        return 0
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _has_triton_gpu() -> bool:
    if _cuda_device_count() == 0:
        return False
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True


def _has_network(host: str = "pypi.org", port: int = 443, timeout_s: float = 2.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def pytest_configure(config: pytest.Config) -> None:
    for name, help_text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {help_text}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Probe each resource at most once, and only when some collected test asks for it.
    probes = {
        "gpu": (lambda: _cuda_device_count() >= 1, "no CUDA device"),
        "multigpu": (lambda: _cuda_device_count() >= 2, "fewer than 2 CUDA devices"),
        "triton": (_has_triton_gpu, "no Triton GPU backend"),
        "needs_data": (lambda: find_shared_data(Path(str(config.rootpath))) is not None, "../shared/data is absent"),
        "needs_network": (_has_network, "no network access"),
    }
    available: dict[str, bool] = {}
    for item in items:
        for marker, (probe, reason) in probes.items():
            if marker not in item.keywords:
                continue
            if marker not in available:
                available[marker] = probe()
            if not available[marker]:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def shared_data(pytestconfig: pytest.Config) -> Path:
    """The shared data folder; tests using it skip cleanly when it is absent."""
    path = find_shared_data(Path(str(pytestconfig.rootpath)))
    if path is None:
        pytest.skip("../shared/data is absent")
    return path
