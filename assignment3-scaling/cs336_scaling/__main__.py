"""Allows `python -m cs336_scaling` where console scripts are not installed (e.g. on the GPU machine)."""

from cs336_scaling.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
