"""Helpers shared by bench_bpe.py and bench_encode.py: corpus preparation, environment record, tables."""

import datetime as dt
import gzip
import json
import os
import platform
import shutil
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
EOT = "<|endoftext|>"


def shared_data() -> Path:
    """The shared data folder (`$CS336_SHARED_DATA` or ../shared/data next to the repository)."""
    from cs336_basics.testing import find_shared_data

    path = find_shared_data(Path(__file__))
    if path is None:
        raise SystemExit("error: shared data folder not found (set CS336_SHARED_DATA)")
    return path


def english_docs(tmp: Path, copies: int = 1) -> Path:
    """english-docs.txt.gz decompressed into `tmp`, concatenated `copies` times (documents end with EOT lines)."""
    src = shared_data() / "corpora" / "english-docs.txt.gz"
    one = tmp / "english-docs.txt"
    if not one.exists():
        with gzip.open(src, "rb") as f, open(one, "wb") as out:
            shutil.copyfileobj(f, out, 16 << 20)
    if copies == 1:
        return one
    many = tmp / f"english-docs-x{copies}.txt"
    if not many.exists():
        with open(many, "wb") as out:
            for _ in range(copies):
                with open(one, "rb") as f:
                    shutil.copyfileobj(f, out, 16 << 20)
    return many


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def collect_env() -> dict:
    sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO_ROOT)
    return {
        "date_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": sha.stdout.strip() or None,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "versions": {n: _version(n) for n in ("regex", "tokenizers", "tiktoken", "numpy")},
    }


def markdown_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def write_bench_json(path: str | Path, payload: dict) -> None:
    Path(path).write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
