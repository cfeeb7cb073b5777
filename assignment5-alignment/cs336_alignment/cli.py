"""The `cs336-alignment` command line: math evaluation, SFT, expert iteration, GRPO, the mini-A5 pipeline, plots;
the supplement's instruction tuning, MMLU/GSM8K/AlpacaEval/SST evaluations and DPO (`supplement_cli.py`).

uv run cs336-alignment --help
"""

import argparse
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cs336_alignment import supplement_cli
from cs336_alignment.errors import AlignmentError

EXAMPLES = {
    "eval": "cs336-alignment eval --config configs/debug_cpu.toml --set model.path='\"runs/X/model\"'",
    "sft": "cs336-alignment sft --config configs/debug_cpu.toml --set model.path='\"runs/X/model\"'",
    "expert-iter": "cs336-alignment expert-iter --config configs/debug_cpu.toml --set model.path='\"runs/X/model\"'",
    "grpo": "cs336-alignment grpo --config configs/debug_cpu.toml --set grpo.loss_type='\"grpo_clip\"'",
    "mini-a5": "cs336-alignment mini-a5 --config configs/debug_cpu.toml",
    "plot": "cs336-alignment plot runs/20260101-000000-grpo-run",
}


def _add_run_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="TOML file with [model], [data], [sampling], [run], ... tables")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override, e.g. grpo.group_size=4")
    p.add_argument("--out-dir", help="parent of the run directory (run.out_dir)")
    p.add_argument("--seed", type=int, help="run.seed")
    p.add_argument("--device", help="auto | cpu | cuda | cuda:N (run.device)")
    p.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    p.add_argument("--wandb", action="store_true", help="also log to Weights & Biases (needs the wandb extra)")


def _resolve(cls: type, args: argparse.Namespace) -> Any:
    from cs336_alignment.config import load_config

    overrides = list(args.set)
    if args.out_dir:
        overrides.append(f"run.out_dir={json.dumps(args.out_dir)}")
    if args.seed is not None:
        overrides.append(f"run.seed={args.seed}")
    if args.device:
        overrides.append(f"run.device={json.dumps(args.device)}")
    if args.wandb:
        overrides.append("run.wandb=true")
    return load_config(cls, args.config, overrides)


def _run(cls_name: str | type, fn: Callable[[Any], dict], args: argparse.Namespace) -> int:
    from cs336_alignment import config as config_mod

    cls = cls_name if isinstance(cls_name, type) else getattr(config_mod, cls_name, None)
    if cls is None:
        from cs336_alignment import pipeline

        cls = getattr(pipeline, cls_name)
    cfg = _resolve(cls, args)
    if args.dry_run:
        print(json.dumps(config_mod.config_to_dict(cfg), indent=2))
        return 0
    summary = fn(cfg)
    print(json.dumps(summary, indent=2, default=str))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    def _eval(cfg):
        from cs336_alignment.evaluate import category_examples
        from cs336_alignment.metrics import write_json
        from cs336_alignment.trainer import run_eval, start_run

        run = start_run(cfg, "eval", with_optimizer=False)
        result = run_eval(run)
        result.write_jsonl(run.run_dir / "eval_examples.jsonl")
        write_json(run.run_dir / "eval_categories.json", category_examples(result.records))
        run.metrics.close()
        return {"run_dir": str(run.run_dir), **result.metrics}

    return _run("EvalRunConfig", _eval, args)


def cmd_sft(args: argparse.Namespace) -> int:
    from cs336_alignment.sft import run_sft

    return _run("SFTRunConfig", run_sft, args)


def cmd_expert_iter(args: argparse.Namespace) -> int:
    from cs336_alignment.expert_iteration import run_expert_iteration

    return _run("EIRunConfig", run_expert_iteration, args)


def cmd_grpo(args: argparse.Namespace) -> int:
    from cs336_alignment.grpo_train import run_grpo

    return _run("GRPORunConfig", run_grpo, args)


def cmd_mini_a5(args: argparse.Namespace) -> int:
    from cs336_alignment.pipeline import run_pipeline

    return _run("PipelineConfig", run_pipeline, args)


def cmd_plot(args: argparse.Namespace) -> int:
    from cs336_alignment.plotting import plot_run

    run_dir = Path(args.run_dir)
    dirs = (
        [run_dir] if (run_dir / "metrics.jsonl").exists() else sorted(p.parent for p in run_dir.rglob("metrics.jsonl"))
    )
    if not dirs:
        raise AlignmentError(f"no metrics.jsonl under {run_dir}")
    for d in dirs:
        for path in plot_run(d):
            print(path)
    return 0


COMMANDS = {
    "eval": ("generate on the validation set, grade, report categories, write per-example JSONL", cmd_eval),
    "sft": ("supervised fine-tuning on expert traces", cmd_sft),
    "expert-iter": ("expert iteration: sample, keep correct, SFT", cmd_expert_iter),
    "grpo": ("GRPO with every switch of the handout", cmd_grpo),
    "mini-a5": ("synthetic end-to-end pipeline: tokenizer, pretrain, SFT, EI, GRPO", cmd_mini_a5),
    **supplement_cli.COMMANDS,  # instruct-tune, eval-mmlu/-gsm8k/-alpacaeval/-sst, dpo
}
EXAMPLES.update(supplement_cli.EXAMPLES)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cs336-alignment", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="re-raise errors with their traceback")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors on the console")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (help_text, handler) in COMMANDS.items():
        p = sub.add_parser(
            name,
            help=help_text,
            description=f"{help_text}.\n\nexample:\n  {EXAMPLES[name]}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        _add_run_flags(p)
        p.set_defaults(handler=handler)
    p = sub.add_parser(
        "plot",
        help="PNG curves from a run's metrics.jsonl",
        description=f"example:\n  {EXAMPLES['plot']}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run_dir", help="a run directory (or a folder of them, e.g. a mini-a5 run)")
    p.set_defaults(handler=cmd_plot)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is None:
        parser.print_help()
        return 0
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(asctime)s %(message)s")
    try:
        return args.handler(args)
    except AlignmentError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
