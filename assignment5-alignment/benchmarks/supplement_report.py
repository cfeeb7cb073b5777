"""Report of a supplement proof run (scripts/supplement_proof.sh): a markdown table, a curves PNG, the metrics.

Reads OUT/{instruct,dpo,eval_*}.json (the commands' printed summaries) and the run directories they name; writes
OUT/supplement_report.md, OUT/supplement_curves.png, OUT/summaries.json and copies of the two training metrics files.

    python benchmarks/supplement_report.py /tmp/proof --device-name "1x H100 80GB"
"""

import argparse
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

FAILURE_KEYS = ("failures_unparsed", "failures_wrong", "dispreferred_examples", "unsafe_examples")


def _load(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def _metrics(run_dir: str) -> list[dict]:
    path = Path(run_dir) / "metrics.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()] if path.is_file() else []


def _series(rows: list[dict], key: str) -> tuple[list[int], list[float]]:
    pts = [(r["step"], r[key]) for r in rows if isinstance(r.get(key), int | float)]
    return [p[0] for p in pts], [p[1] for p in pts]


def plot(instruct_rows: list[dict], dpo_rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 3.8))
    for key, label in (("train/loss", "train"), ("eval/loss", "validation")):
        axes[0].plot(*_series(instruct_rows, key), label=label, marker="o" if key.startswith("eval") else None)
    axes[0].set(title="instruction tuning", xlabel="optimizer step", ylabel="loss (nats/token)")
    for key, label in (("eval/pref_accuracy", "preference accuracy"), ("eval/reward_accuracy", "implicit-reward acc.")):
        axes[1].plot(*_series(dpo_rows, key), marker=".", label=label)
    axes[1].axhline(0.9, color="gray", ls="--", lw=0.8)
    axes[1].set(title="DPO validation accuracy", xlabel="optimizer step", ylabel="fraction of pairs", ylim=(0, 1.02))
    axes[2].plot(*_series(dpo_rows, "eval/reward_margin"), marker=".", label="validation margin")
    axes[2].plot(*_series(dpo_rows, "train/reward_margin"), alpha=0.5, label="train margin")
    axes[2].set(title="DPO implicit-reward margin", xlabel="optimizer step", ylabel="β·Δ log-ratio (nats)")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def report(out: Path, device_name: str) -> str:
    instruct, dpo = _load(out / "instruct.json"), _load(out / "dpo.json")
    evals = {p.stem.removeprefix("eval_"): _load(p) for p in sorted(out.glob("eval_*.json"))}
    env = _load(Path(instruct.get("run_dir", "")) / "env.json")
    lines = [
        f"# Supplement proof: {device_name or env.get('gpu') or 'cpu'}, {datetime.now(UTC):%Y-%m-%d}",
        "",
        f"git {env.get('git_sha', '?')[:7]} (dirty={env.get('git_dirty')}), torch {env.get('torch')}, "
        f"python {env.get('python')}",
        "",
        "| stage | metric | value |",
        "|---|---|---|",
        f"| instruct-tune | steps / wall s | {instruct.get('steps')} / {_fmt(instruct.get('train_s'))} |",
        f"| instruct-tune | final train / val loss | {_fmt(instruct.get('train/loss'))} / "
        f"{_fmt(instruct.get('eval/loss'))} |",
    ]
    if dpo:
        i, f = dpo["initial"], dpo["final"]
        for key in ("eval/pref_accuracy", "eval/reward_accuracy", "eval/reward_margin", "eval/loss"):
            lines.append(f"| dpo | {key}: start -> end | {_fmt(i[key])} -> {_fmt(f[key])} |")
        lines.append(f"| dpo | best {dpo['best_metric']} (step) | {_fmt(dpo['best_value'])} ({dpo['best_step']}) |")
        lines.append(
            f"| dpo | steps / wall s / pairs per step | {dpo['steps']} / {_fmt(dpo['train_s'])} / "
            f"{dpo['pairs_per_step']} |"
        )
        per_task = {k.split("/")[-1]: v for k, v in f.items() if k.startswith("eval/pref_accuracy/")}
        if per_task:
            lines.append(
                "| dpo | final pref. accuracy per task | "
                + ", ".join(f"{k} {v:.2f}" for k, v in per_task.items())
                + " |"
            )
    for name, s in evals.items():
        score = s.get("accuracy", s.get("win_rate", s.get("safe_proportion")))
        lines.append(
            f"| eval {name} | examples, examples/min, score, unparsed, truncated prompts | {s.get('num_examples')}, "
            f"{_fmt(s.get('examples_per_min'))}, {_fmt(score)}, {s.get('num_unparsed', '-')}, "
            f"{s.get('num_truncated_prompts')} |"
        )
    text = "\n".join(lines) + "\n"
    (out / "supplement_report.md").write_text(text)
    trimmed = {name: {k: (v[:3] if k in FAILURE_KEYS else v) for k, v in s.items()} for name, s in evals.items()}
    (out / "summaries.json").write_text(json.dumps({"instruct": instruct, "dpo": dpo, "evals": trimmed}, indent=2))
    instruct_rows = _metrics(instruct.get("run_dir", ""))
    dpo_rows = _metrics(dpo.get("run_dir", ""))
    for name, run in (("instruct", instruct), ("dpo", dpo)):
        if (Path(run.get("run_dir", "")) / "metrics.jsonl").is_file():
            shutil.copy(Path(run["run_dir"]) / "metrics.jsonl", out / f"{name}_metrics.jsonl")
    plot(instruct_rows, dpo_rows, out / "supplement_curves.png")
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the proof's output folder")
    parser.add_argument("--device-name", default="", help="hardware label for the report header")
    args = parser.parse_args()
    print(report(args.out, args.device_name))


if __name__ == "__main__":
    main()
