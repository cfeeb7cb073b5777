"""Shared pytest setup: markers, resource-based skips and the shared-data fixture (see cs336_basics.testing).

A3 adds two markers: `postgres` (needs $CS336_TEST_POSTGRES_URL) and `browser` (needs Debian chromium and
chromedriver; see .ci/setup-scaling.sh). Both skip with a reason when the resource is absent.
"""

import os
import shutil

import pytest

pytest_plugins = ["cs336_basics.testing"]


def chromium_paths() -> tuple[str | None, str | None]:
    chrome = os.environ.get("CS336_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    driver = os.environ.get("CS336_CHROMEDRIVER") or shutil.which("chromedriver")
    return chrome, driver


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "postgres: needs a PostgreSQL server ($CS336_TEST_POSTGRES_URL)")
    config.addinivalue_line("markers", "browser: needs headless Chromium + chromedriver (Debian packages)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "postgres" in item.keywords and not os.environ.get("CS336_TEST_POSTGRES_URL"):
            item.add_marker(pytest.mark.skip(reason="CS336_TEST_POSTGRES_URL is not set (source .ci/setup-scaling.sh)"))
        if "browser" in item.keywords:
            chrome, driver = chromium_paths()
            if not chrome or not driver:
                item.add_marker(
                    pytest.mark.skip(reason="chromium/chromedriver not installed (apt-get chromium-driver)")
                )
            else:
                try:
                    import selenium  # noqa: F401
                except ImportError:
                    item.add_marker(pytest.mark.skip(reason="selenium is not installed (dev dependency group)"))
