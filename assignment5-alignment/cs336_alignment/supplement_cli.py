"""Subcommands of the supplement (`instruct-tune`, `eval-mmlu`, `eval-gsm8k`, `eval-alpacaeval`, `eval-sst`, `dpo`),
registered into `cli.COMMANDS`; each handler resolves its config and calls one library function.

    uv run cs336-alignment instruct-tune --help
"""

import argparse

EXAMPLES = {
    "instruct-tune": "cs336-alignment instruct-tune --config configs/instruct_debug_cpu.toml",
    "eval-mmlu": "cs336-alignment eval-mmlu --config configs/eval_debug_cpu.toml --set model.path='\"runs/X/model\"' "
    "--set task.path='\"../shared/data/alignment/mmlu/val\"'",
    "eval-gsm8k": "cs336-alignment eval-gsm8k --config configs/eval_debug_cpu.toml --set model.path='\"runs/X/model\"' "
    "--set task.path='\"../shared/data/alignment/gsm8k/test.jsonl\"'",
    "eval-alpacaeval": "cs336-alignment eval-alpacaeval --config configs/eval_debug_cpu.toml "
    "--set model.path='\"runs/X/model\"' --set task.path='\"../shared/data/alignment/alpaca_eval/alpaca_eval.jsonl\"'",
    "eval-sst": "cs336-alignment eval-sst --config configs/eval_debug_cpu.toml --set model.path='\"runs/X/model\"' "
    "--set task.path='\"../shared/data/alignment/simple_safety_tests/simple_safety_tests.csv\"'",
    "dpo": "cs336-alignment dpo --config configs/dpo_debug_cpu.toml --set model.path='\"runs/X/model\"'",
}


def cmd_instruct_tune(args: argparse.Namespace) -> int:
    from cs336_alignment.cli import _run
    from cs336_alignment.instruct.train import run_instruct_tune
    from cs336_alignment.supplement_config import InstructRunConfig

    return _run(InstructRunConfig, run_instruct_tune, args)


def _eval_handler(task: str):
    def handler(args: argparse.Namespace) -> int:
        from cs336_alignment.cli import _run
        from cs336_alignment.evals.runner import run_supplement_eval
        from cs336_alignment.supplement_config import SupEvalRunConfig

        # The subcommand names the task; a config file may still set path, prompt, limits.
        args.set = [f'task.name="{task}"', *args.set]
        return _run(SupEvalRunConfig, run_supplement_eval, args)

    return handler


def cmd_dpo(args: argparse.Namespace) -> int:
    from cs336_alignment.cli import _run
    from cs336_alignment.dpo_train import run_dpo
    from cs336_alignment.supplement_config import DPORunConfig

    return _run(DPORunConfig, run_dpo, args)


COMMANDS = {
    "instruct-tune": ("instruction tuning on packed Alpaca-format data (A1 or HF models)", cmd_instruct_tune),
    "eval-mmlu": ("MMLU: generate, parse the letter, accuracy, throughput, failures", _eval_handler("mmlu")),
    "eval-gsm8k": ("GSM8K: generate, parse the last number, accuracy, throughput, failures", _eval_handler("gsm8k")),
    "eval-alpacaeval": ("AlpacaEval outputs file (+ win rate with a local judge)", _eval_handler("alpaca_eval")),
    "eval-sst": ("SimpleSafetyTests outputs (+ safe proportion with a judge)", _eval_handler("sst")),
    "dpo": ("DPO with a frozen (cached) reference, best checkpoint kept", cmd_dpo),
}
