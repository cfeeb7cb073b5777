"""Supervised fine-tuning on expert traces (handout §4, Alg. 1; problem sft_experiment).

Options: `data.num_train_examples` (the dataset-size sweep 128/256/512/1024/all) and `data.filter_correct` (keep
only traces whose answer the reward function accepts: the "filtered" variant). Evaluates every `run.eval_every`
optimizer steps and at the end; saves `model/` (model + tokenizer) and a resumable checkpoint.

    cs336-alignment sft --config configs/debug_cpu.toml --set model.path='"runs/<pretrain>/model"'
    cs336-alignment sft --config configs/qwen2.5_math_1.5b_sft_2gpu.toml     # GPU, with the weights and MATH
"""

import logging
from typing import Any

from cs336_alignment.config import SFTRunConfig
from cs336_alignment.errors import AlignmentError
from cs336_alignment.trainer import encode_pairs, finish_run, run_eval, sft_epochs, start_run

logger = logging.getLogger(__name__)


def run_sft(config: SFTRunConfig) -> dict[str, Any]:
    run = start_run(config, "sft")
    examples = [ex for ex in run.train if ex.response]
    if not examples:
        raise AlignmentError("no training example has an expert response; SFT needs (prompt, response) pairs")
    if config.data.filter_correct:
        if any(not ex.answer for ex in examples):
            raise AlignmentError("data.filter_correct needs a gold answer for every SFT row (set data.answer_key)")
        before = len(examples)
        examples = [ex for ex in examples if run.protocol.reward_fn(ex.response, ex.answer)["reward"] == 1.0]
        logger.info("filter_correct kept %d of %d traces", len(examples), before)
        run.metrics.log({"data/sft_examples_before_filter": before}, run.step)
    run.metrics.log({"data/sft_examples": len(examples)}, run.step)
    start = run_eval(run).metrics
    pairs = encode_pairs(run, examples)
    # A resumed run skips the batches its checkpoint already trained on (same seeded order).
    sft_epochs(run, pairs, config.sft.num_epochs, config.sft.max_steps, config.run.eval_every, skip_batches=run.step)
    final = run_eval(run).metrics
    return finish_run(run, {"start": start, "final": final, "num_sft_examples": len(examples)})
