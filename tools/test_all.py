"""Run every assignment's test suite, each from its own folder, and print one combined summary.

    uv run python tools/test_all.py                       # all five suites
    uv run python tools/test_all.py assignment1-basics    # one suite
    uv run python tools/test_all.py -- -m "not slow" -x   # extra pytest arguments after --

Each assignment has a `tests` package with an `adapters.py`, as the course lays them out, so the five suites cannot
share one pytest process (the package names collide). Running pytest once per assignment folder also matches how
the course runs them (`cd assignmentN-x && uv run pytest`). The last line is `N passed, N failed, N skipped`.
"""

import argparse
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENTS = (
    "assignment1-basics",
    "assignment2-systems",
    "assignment3-scaling",
    "assignment4-data",
    "assignment5-alignment",
)
PYTEST_NO_TESTS_COLLECTED = 5


@dataclass
class SuiteResult:
    name: str
    exit_code: int
    passed: int
    failed: int
    skipped: int
    time_s: float

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


def read_junit_counts(path: Path) -> tuple[int, int, int]:
    """(passed, failed, skipped) from a pytest junit XML file; errors count as failures."""
    if not path.exists():
        return 0, 0, 0
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    tests = failed = skipped = 0
    for suite in suites:
        tests += int(suite.get("tests", 0))
        failed += int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        skipped += int(suite.get("skipped", 0))
    return tests - failed - skipped, failed, skipped


def run_suite(name: str, pytest_args: list[str], junit_dir: Path) -> SuiteResult:
    junit = junit_dir / f"{name}.xml"
    cmd = [sys.executable, "-m", "pytest", f"--junitxml={junit}", *pytest_args]
    print(f"\n===== {name}: {' '.join(cmd[1:])}", flush=True)
    start = time.perf_counter()
    exit_code = subprocess.call(cmd, cwd=REPO_ROOT / name)
    elapsed = time.perf_counter() - start
    passed, failed, skipped = read_junit_counts(junit)
    return SuiteResult(name, exit_code, passed, failed, skipped, elapsed)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    pytest_args: list[str] = []
    if "--" in argv:
        split = argv.index("--")
        argv, pytest_args = argv[:split], argv[split + 1 :]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suites", nargs="*", metavar="ASSIGNMENT", help=f"default: all of {', '.join(ASSIGNMENTS)}")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.suites) - set(ASSIGNMENTS))
    if unknown:
        parser.error(f"unknown assignment(s) {unknown}; choose from {list(ASSIGNMENTS)}")
    suites = args.suites or list(ASSIGNMENTS)

    with tempfile.TemporaryDirectory(prefix="cs336-junit-") as tmp:
        results = [run_suite(name, ["-q", *pytest_args], Path(tmp)) for name in suites]

    print("\n| suite | passed | failed | skipped | time (s) | status |")
    print("|---|---:|---:|---:|---:|---|")
    for r in results:
        status = "ok" if r.ok else f"FAILED (pytest exit {r.exit_code})"
        print(f"| {r.name} | {r.passed} | {r.failed} | {r.skipped} | {r.time_s:.0f} | {status} |")
    passed, failed, skipped = (sum(getattr(r, k) for r in results) for k in ("passed", "failed", "skipped"))
    broken = [r.name for r in results if not r.ok]
    if broken and failed == 0:
        # A suite can fail without a failing test (collection error, no tests collected, crash): count it.
        failed = len(broken)
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 1 if broken else 0


if __name__ == "__main__":
    raise SystemExit(main())
