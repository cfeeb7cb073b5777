"""Planner accuracy on the simulated backend over several world seeds (issue target: N_opt within 20% and the
optimal loss within 0.02 of the truth on at least 4 of 5 seeds, with the default 43,200-s budget).

    uv run python benchmarks/bench_planner.py                   # world seeds 1..5
    uv run python benchmarks/bench_planner.py --seeds 1-10 --out benchmarks/out

"Truth" is the noise-free optimum of each world's surface for a 48 B200-hour run (`true_optimum`); N is the
non-embedding parameter count; "achieved" is the submitted config's leaderboard loss (includes its seed noise).
"""

import argparse
import json
import time
from pathlib import Path

from cs336_scaling.backends.simulated import SimulatedBackend, true_optimum
from cs336_scaling.backends.world import World
from cs336_scaling.client import EmbeddedClient
from cs336_scaling.grade import grade
from cs336_scaling.planner import Planner, PlannerConfig


def parse_seeds(text: str) -> list[int]:
    if "-" in text:
        lo, hi = text.split("-")
        return list(range(int(lo), int(hi) + 1))
    return [int(s) for s in text.split(",")]


def run_seed(seed: int, cfg: PlannerConfig) -> dict:
    world = World.sample(seed)
    t0 = time.perf_counter()
    with EmbeddedClient(backend=SimulatedBackend(world)) as api:
        res = Planner(api, cfg).run()
    wall = time.perf_counter() - t0
    truth = true_optimum(world, cfg.target_seconds)
    rep = grade(res.final_config, res.predicted_loss, world, target_seconds=cfg.target_seconds,
                budget_used_seconds=res.budget_used)  # fmt: skip
    n_ratio = res.predicted_n / truth.n
    return {
        "seed": seed, "pred_n": res.predicted_n, "true_n": truth.n, "n_ratio": n_ratio,
        "pred_loss": res.predicted_loss, "true_loss": truth.loss, "loss_err": res.predicted_loss - truth.loss,
        "achieved": rep.achieved_loss, "abs_err_achieved": rep.abs_error, "regret": rep.regret,
        "budget_used": res.budget_used, "runs": res.n_runs, "wall_s": wall,
        "pass": abs(n_ratio - 1) <= 0.2 and abs(res.predicted_loss - truth.loss) <= 0.02,
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="1-5")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    cfg = PlannerConfig()
    rows = [run_seed(s, cfg) for s in parse_seeds(args.seeds)]
    print("| world seed | predicted N | true N* | N ratio | predicted loss | true L* | pred − L* | achieved | "
          "regret | budget used s | runs | pass |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:-:|")
    for r in rows:
        print(f"| {r['seed']} | {r['pred_n']:.3g} | {r['true_n']:.3g} | {r['n_ratio']:.3f} | {r['pred_loss']:.4f} | "
              f"{r['true_loss']:.4f} | {r['loss_err']:+.4f} | {r['achieved']:.4f} | {r['regret']:+.4f} | "
              f"{r['budget_used']:.0f} | {r['runs']} | {'yes' if r['pass'] else 'no'} |")  # fmt: skip
    n_pass = sum(r["pass"] for r in rows)
    print(f"\n{n_pass}/{len(rows)} seeds meet the target; total wall time {sum(r['wall_s'] for r in rows):.1f} s")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "planner.json").write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
