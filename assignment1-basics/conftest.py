"""Shared pytest setup: markers, resource-based skips and the shared-data fixture (see cs336_basics.testing)."""

pytest_plugins = ["cs336_basics.testing"]
