"""Benchmark GET /budget on loopback against `cs336-scaling serve` (SQLite), spec target: 200 req/s with p99 < 50 ms.

    uv run python benchmarks/bench_api.py                      # defaults: 200 req/s paced for 10 s, then closed loop
    uv run python benchmarks/bench_api.py --rate 300 --seconds 5 --out benchmarks/out

The server runs in its own process (uvicorn, one worker) on 127.0.0.1 with a fresh SQLite DB holding one user and
20 finished experiments, so every request computes the budget aggregate. Two rows:
- paced (open loop): requests are scheduled at a fixed rate; latency is measured from the *scheduled* send time, so
  a server that falls behind shows queueing delay (no coordinated omission);
- closed loop: `--clients` threads send back to back; reports the maximum throughput.
Requests and time are bounded (`--seconds`, `--max-requests`); only 127.0.0.1 is contacted.
"""

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

KEY = "12345678"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(db: Path, port: int) -> subprocess.Popen:
    from cs336_scaling.server.store import Store

    store = Store(str(db))
    store.add_user("bench", KEY)
    for i in range(20):  # some history, so the aggregate has rows to sum
        exp = store.submit("bench", f"u{i}", {"i": i}, 100.0, 43200.0)[0]
        store.mark_running(exp, f"r{i}")
        store.finish_completed(exp, 10.0 + i, [3.0])
    store.close()
    cmd = [sys.executable, "-m", "cs336_scaling", "serve", "--db", str(db), "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/budget", headers={"X-API-Key": KEY}, timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"server did not start: {proc.stderr.read().decode() if proc.stderr else ''}")


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def paced(url: str, rate: float, seconds: float, clients: int, max_requests: int) -> dict:
    total = min(max_requests, int(rate * seconds))
    lat: list[float] = []
    errors = [0]
    lock = threading.Lock()
    t0 = time.perf_counter() + 0.2

    def worker(k: int) -> None:
        with httpx.Client(base_url=url, headers={"X-API-Key": KEY}, timeout=10) as c:
            for i in range(k, total, clients):
                due = t0 + i / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                ok = c.get("/budget").status_code == 200
                done = time.perf_counter()
                with lock:
                    lat.append(done - due)
                    errors[0] += not ok

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    return _row("paced", len(lat), elapsed, lat, errors[0], rate)


def closed(url: str, seconds: float, clients: int, max_requests: int) -> dict:
    lat: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def worker() -> None:
        with httpx.Client(base_url=url, headers={"X-API-Key": KEY}, timeout=10) as c:
            while time.perf_counter() < stop:
                with lock:
                    if len(lat) >= max_requests:
                        return
                s = time.perf_counter()
                ok = c.get("/budget").status_code == 200
                with lock:
                    lat.append(time.perf_counter() - s)
                    errors[0] += not ok

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return _row(f"closed x{clients}", len(lat), time.perf_counter() - t0, lat, errors[0], None)


def _row(mode: str, n: int, elapsed: float, lat: list[float], errors: int, rate: float | None) -> dict:
    return {
        "mode": mode, "target_rps": rate, "requests": n, "errors": errors, "achieved_rps": n / elapsed,
        "p50_ms": 1000 * statistics.median(lat), "p99_ms": 1000 * pct(lat, 0.99), "max_ms": 1000 * max(lat),
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rate", type=float, default=200.0)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--max-requests", type=int, default=20000)
    p.add_argument("--out", type=Path, default=None, help="write bench.json here")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        proc = start_server(Path(tmp) / "bench.db", port)
        try:
            url = f"http://127.0.0.1:{port}"
            paced(url, args.rate, 1.0, args.clients, 200)  # warm-up
            rows = [paced(url, args.rate, args.seconds, args.clients, args.max_requests)]
            rows.append(closed(url, min(args.seconds, 5.0), args.clients, args.max_requests))
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    print("| mode | target req/s | requests | errors | achieved req/s | p50 ms | p99 ms | max ms |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        tgt = f"{r['target_rps']:.0f}" if r["target_rps"] else "–"
        print(f"| {r['mode']} | {tgt} | {r['requests']} | {r['errors']} | {r['achieved_rps']:.0f} | "
              f"{r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['max_ms']:.1f} |")  # fmt: skip
    paced_row = rows[0]
    ok = paced_row["errors"] == 0 and paced_row["p99_ms"] < 50 and paced_row["achieved_rps"] >= 0.95 * args.rate
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    verdict = "PASS" if ok else "FAIL"
    print(
        f"\ntarget ({args.rate:.0f} req/s, p99 < 50 ms): {verdict}  [{platform.node()}, {os.cpu_count()} CPUs, {when}]"
    )
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        env = {"python": platform.python_version(), "cpus": os.cpu_count(), "date": time.strftime("%Y-%m-%d")}
        (args.out / "bench.json").write_text(
            json.dumps({"rows": rows, "env": env, "args": vars(args) | {"out": str(args.out)}}, indent=2)
        )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
