"""Expert iteration (handout §5, Alg. 2; problem expert_iteration_experiment).

Each EI step: sample `ei.questions_per_step` training questions (D_b), sync the engine to the policy, sample
`ei.group_size` responses each (temperature sampling, `min_tokens`, stop at `</answer>`), keep the correct ones,
and run `ei.sft_epochs` epochs of SFT on them from the current policy. Rollouts are trained on with the token ids
the engine sampled (no re-tokenisation). Logs the number kept, reward and response entropy per step.

    cs336-alignment expert-iter --config configs/debug_cpu.toml --set model.path='"runs/<sft>/model"'
"""

import random
import time
from typing import Any

from cs336_alignment.config import EIRunConfig
from cs336_alignment.trainer import finish_run, fit_pairs, rollout_params, run_eval, sft_epochs, start_run


def run_expert_iteration(config: EIRunConfig) -> dict[str, Any]:
    run = start_run(config, "ei")
    ei = config.ei
    rng = random.Random(config.run.seed)
    start = run_eval(run).metrics
    codec = run.engine.codec
    for ei_step in range(ei.n_ei_steps):
        questions = rng.sample(run.train, min(ei.questions_per_step, len(run.train)))
        prompts = [q.render(run.protocol) for q in questions]
        run.engine.sync_weights(run.model)
        t0 = time.perf_counter()
        outputs = run.engine.generate(
            prompts, rollout_params(config, run.protocol, ei.group_size, config.run.seed + ei_step)
        )
        gen_s = time.perf_counter() - t0
        pairs, rewards, num_tokens = [], [], 0
        for q, prompt, comps in zip(questions, prompts, outputs):
            prompt_ids = codec.encode(prompt)
            for c in comps:
                r = run.protocol.reward_fn(c.text, q.answer)
                rewards.append(r["reward"])
                num_tokens += len(c.token_ids)
                if r["reward"] == 1.0:
                    pairs.append((prompt_ids, c.token_ids))
        run.metrics.log(
            {
                "train/ei_step": ei_step + 1,
                "train/rollout_reward": sum(rewards) / max(len(rewards), 1),
                "train/ei_kept": len(pairs),
                "train/mean_response_tokens": num_tokens / max(len(rewards), 1),
                "perf/rollout_tokens_per_s": num_tokens / max(gen_s, 1e-9),
            },
            run.step,
        )
        if pairs:
            sft_epochs(run, fit_pairs(run, pairs), ei.sft_epochs, config.sft.max_steps)
        if config.run.eval_every and (ei_step + 1) % config.run.eval_every == 0 and ei_step + 1 < ei.n_ei_steps:
            run_eval(run)
        if run.out_of_time():
            break
    final = run_eval(run).metrics
    return finish_run(run, {"start": start, "final": final})
