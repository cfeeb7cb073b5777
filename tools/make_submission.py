"""Build a course-style submission zip for one assignment: run its tests, keep the junit results, zip the code.

    uv run python tools/make_submission.py assignment1-basics
    uv run python tools/make_submission.py assignment2-systems --out-dir dist --skip-tests

Like the course's `test_and_make_submission.sh`: the tests run from the assignment folder and write
`test_results.xml` there; the zip holds the assignment's code, configs, docs and that file, and leaves out
environments, caches, data, runs and checkpoints. The tests may fail (the zip records the results either way);
the exit code is pytest's.
"""

import argparse
import fnmatch
import subprocess
import sys
import zipfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENTS = (
    "assignment1-basics",
    "assignment2-systems",
    "assignment3-scaling",
    "assignment4-data",
    "assignment5-alignment",
)
# Folder names and file patterns never shipped: environments, caches, data, run outputs, model weights.
EXCLUDED_DIRS = {
    ".venv", "__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis", ".git", "data", "runs", "wandb",
    "checkpoints", "ckpt", "dist", "build", "node_modules", ".ipynb_checkpoints",
}  # fmt: skip
EXCLUDED_PATTERNS = (
    "*.egg-info", "*.pyc", "*.zip", "*.pt", "*.pth", "*.bin", "*.ckpt", "*.safetensors", "*.npy", "*.npz",
    "*.memmap", "*.gz", "*.tar", "*.whl", "*.so", "*.nsys-rep", "*.pickle", "*.pkl",
)  # fmt: skip
MAX_FILE_BYTES = 5 * 2**20


def is_excluded(rel: Path, size: int) -> bool:
    if any(part in EXCLUDED_DIRS or fnmatch.fnmatch(part, "*.egg-info") for part in rel.parts[:-1]):
        return True
    return size > MAX_FILE_BYTES or any(fnmatch.fnmatch(rel.name, pat) for pat in EXCLUDED_PATTERNS)


def collect_files(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.rglob("*") if p.is_file() and not is_excluded(p.relative_to(folder), p.stat().st_size)
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("assignment", choices=ASSIGNMENTS)
    parser.add_argument("--out-dir", type=Path, default=REPO_ROOT / "dist", help="where the zip goes (default: dist/)")
    parser.add_argument("--skip-tests", action="store_true", help="zip without running the tests")
    args = parser.parse_args(argv)

    folder = REPO_ROOT / args.assignment
    exit_code = 0
    if not args.skip_tests:
        cmd = [sys.executable, "-m", "pytest", "-v", "./tests", "--junitxml=test_results.xml"]
        print(f"running {' '.join(cmd[1:])} in {folder.name}/", flush=True)
        exit_code = subprocess.call(cmd, cwd=folder)

    args.out_dir.mkdir(parents=True, exist_ok=True)
    out = args.out_dir / f"cs336-{args.assignment}-submission.zip"
    files = collect_files(folder)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in files:
            zf.write(path, arcname=Path(args.assignment) / path.relative_to(folder))
    size_kib = out.stat().st_size / 1024
    print(f"wrote {out} ({len(files)} files, {size_kib:.0f} KiB); tests exit code {exit_code}")
    return exit_code


if __name__ == "__main__":
    raise SystemExit(main())
