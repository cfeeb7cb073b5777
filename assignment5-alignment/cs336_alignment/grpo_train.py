"""The GRPO training loop (handout §7, Alg. 3; problems grpo_train_loop and the ablations).

Per GRPO step: sample `rollout_batch_size / group_size` questions, sync the engine to the policy, sample
`group_size` responses each, score them, compute group-normalised advantages, then take
`epochs_per_rollout_batch * rollout_batch_size / train_batch_size` optimizer steps over the rollout batch (each
one accumulates `gradient_accumulation_steps` micro-batches, clips the gradient and steps).

Switches (all in `[grpo]`): loss_type (no_baseline | reinforce_with_baseline | grpo_clip | grpo_no_clip),
use_std_normalization, length_normalization (masked_mean | masked_normalize by sampling.max_tokens),
epochs_per_rollout_batch / train_batch_size (off-policy), cliprange; and `data.prompt` (r1_zero | question_only).

Departures from the handout, stated up front:
- old log-probs are recomputed by the trainer once per rollout batch (inference mode, same dtype and padding as
  the training forward), for every loss that needs them, never taken from the engine (spec §5.4);
- the scored tokens are exactly the engine's sampled ids (no re-tokenisation of the response text);
- micro-batches are trimmed to their own longest sequence (fewer padded positions; results are unchanged).

    cs336-alignment grpo --config configs/debug_cpu.toml --set model.path='"runs/<sft>/model"'
    cs336-alignment grpo --config configs/qwen2.5_math_1.5b_grpo_2gpu.toml     # 2 GPUs, vLLM on cuda:1
"""

import json
import random
import time
from typing import Any

import torch

from cs336_alignment.config import GRPORunConfig
from cs336_alignment.grpo import compute_group_normalized_rewards, grpo_microbatch_train_step
from cs336_alignment.policy import lr_at
from cs336_alignment.sft_utils import get_response_log_probs, masked_mean, pack_prompt_and_output_ids
from cs336_alignment.trainer import Run, finish_run, maybe_checkpoint, rollout_params, run_eval, start_run

NEEDS_OLD_LOG_PROBS = ("grpo_clip", "grpo_no_clip")


def _micro_slices(batch: dict[str, torch.Tensor], lengths: torch.Tensor, index: torch.Tensor, device):
    """Rows `index` of the packed batch, trimmed to their longest sequence, on `device`."""
    width = int(lengths[index].max())
    return {k: v[index, :width].to(device) for k, v in batch.items()}


@torch.inference_mode()
def compute_old_log_probs(run: Run, batch: dict[str, torch.Tensor], lengths: torch.Tensor, micro: int) -> torch.Tensor:
    """log pi_old for the whole rollout batch, computed once and reused across its epochs."""
    out = torch.zeros(batch["labels"].shape, dtype=torch.float32)
    for start in range(0, out.shape[0], micro):
        index = torch.arange(start, min(start + micro, out.shape[0]))
        mb = _micro_slices(batch, lengths, index, run.device)
        lp = get_response_log_probs(run.model, mb["input_ids"], mb["labels"])["log_probs"]
        out[index, : lp.shape[1]] = lp.cpu()
    return out


def _train_step(run: Run, batch, lengths, rows: torch.Tensor, raw, adv, old) -> dict[str, float]:
    """One optimizer step over `rows` of the rollout batch (micro-batched, accumulated, clipped)."""
    cfg, g = run.config, run.config.grpo
    micro = g.micro_train_batch_size
    k = -(-len(rows) // micro)
    sums = {"loss": 0.0, "entropy": 0.0, "clip": 0.0, "tokens": 0}
    run.model.train()
    for start in range(0, len(rows), micro):
        index = rows[start : start + micro]
        mb = _micro_slices(batch, lengths, index, run.device)
        out = get_response_log_probs(run.model, mb["input_ids"], mb["labels"], return_token_entropy=True)
        width = mb["labels"].shape[1]
        loss, meta = grpo_microbatch_train_step(
            out["log_probs"],
            mb["response_mask"],
            k,
            g.loss_type,
            raw_rewards=raw[index].unsqueeze(1).to(run.device),
            advantages=adv[index].unsqueeze(1).to(run.device),
            old_log_probs=old[index, :width].to(run.device) if old is not None else None,
            cliprange=g.cliprange,
            length_normalization=g.length_normalization,
            normalize_constant=float(cfg.sampling.max_tokens),
        )
        tokens = int(mb["response_mask"].sum())
        sums["loss"] += float(loss)
        sums["entropy"] += float(masked_mean(out["token_entropy"], mb["response_mask"])) * tokens
        sums["clip"] += float(meta.get("clip_fraction", torch.tensor(0.0))) * tokens
        sums["tokens"] += tokens
    grad_norm = torch.nn.utils.clip_grad_norm_(run.model.parameters(), cfg.optim.grad_clip)
    for group in run.optimizer.param_groups:
        group["lr"] = lr_at(run.step, cfg.optim)
    run.optimizer.step()
    run.optimizer.zero_grad(set_to_none=True)
    n = max(sums["tokens"], 1)
    return {
        "train/loss": sums["loss"],
        "train/grad_norm": float(grad_norm),
        "train/token_entropy": sums["entropy"] / n,
        "train/clip_fraction": sums["clip"] / n,
        "train/lr": lr_at(run.step, cfg.optim),
    }


def _rollouts(run: Run, grpo_step: int, rng: random.Random):
    cfg, g = run.config, run.config.grpo
    questions = rng.sample(run.train, g.n_prompts_per_rollout_batch)
    prompts = [q.render(run.protocol) for q in questions]
    run.engine.sync_weights(run.model)
    t0 = time.perf_counter()
    params = rollout_params(cfg, run.protocol, g.group_size, cfg.run.seed * 100_003 + grpo_step)
    outputs = run.engine.generate(prompts, params)
    gen_s = time.perf_counter() - t0
    codec = run.engine.codec
    prompt_ids, resp_ids, texts, golds = [], [], [], []
    for q, prompt, comps in zip(questions, prompts, outputs):
        ids = codec.encode(prompt)
        for c in comps:
            prompt_ids.append(ids)
            resp_ids.append(c.token_ids)
            texts.append(c.text)
            golds.append(q.answer)
    return prompts, prompt_ids, resp_ids, texts, golds, gen_s


def run_grpo(config: GRPORunConfig) -> dict[str, Any]:
    run = start_run(config, "grpo")
    g = config.grpo
    rng = random.Random(config.run.seed)
    start = run_eval(run).metrics
    first_step = run.step // g.optimizer_steps_per_rollout_batch
    for _ in range(first_step):  # replay the question sampler so a resumed run sees the same questions
        rng.sample(run.train, g.n_prompts_per_rollout_batch)
    samples = (run.run_dir / "samples.jsonl").open("a", encoding="utf-8")
    for grpo_step in range(first_step, g.n_grpo_steps):
        prompts, prompt_ids, resp_ids, texts, golds, gen_s = _rollouts(run, grpo_step, rng)
        adv, raw, reward_meta = compute_group_normalized_rewards(
            run.protocol.reward_fn, texts, golds, g.group_size, g.advantage_eps, g.use_std_normalization
        )
        batch = pack_prompt_and_output_ids(prompt_ids, resp_ids, run.pad_id)
        lengths = torch.tensor([len(p) + len(r) - 1 for p, r in zip(prompt_ids, resp_ids)])
        old = None
        if g.loss_type in NEEDS_OLD_LOG_PROBS:
            old = compute_old_log_probs(run, batch, lengths, g.micro_train_batch_size)
        t0, train_tokens = time.perf_counter(), int(lengths.sum())
        for epoch in range(g.epochs_per_rollout_batch):
            order = torch.randperm(g.rollout_batch_size) if g.is_off_policy else torch.arange(g.rollout_batch_size)
            for start_row in range(0, g.rollout_batch_size, g.train_batch_size):
                metrics = _train_step(
                    run, batch, lengths, order[start_row : start_row + g.train_batch_size], raw, adv, old
                )
                run.step += 1
                resp_lens = [len(r) for r in resp_ids]
                metrics.update(
                    {
                        "train/grpo_step": grpo_step + 1,
                        "train/epoch": epoch,
                        "train/reward": reward_meta["reward_mean"],
                        "train/format_reward": reward_meta["format_reward_mean"],
                        "train/answer_reward": reward_meta["answer_reward_mean"],
                        "train/frac_zero_variance_groups": reward_meta["frac_zero_variance_groups"],
                        "train/mean_response_tokens": sum(resp_lens) / len(resp_lens),
                        "perf/rollout_tokens_per_s": sum(resp_lens) / max(gen_s, 1e-9),
                    }
                )
                run.metrics.log(metrics, run.step)
                maybe_checkpoint(run)
        train_s = time.perf_counter() - t0
        run.metrics.log({"perf/train_tokens_per_s": g.epochs_per_rollout_batch * train_tokens / train_s}, run.step)
        for i in range(0, min(len(texts), config.run.num_example_rollouts * g.group_size), g.group_size):
            row = {"step": run.step, "kind": "train_rollout", "prompt": prompts[i // g.group_size]}
            row.update(response=texts[i], ground_truth=golds[i], reward=float(raw[i]), advantage=float(adv[i]))
            samples.write(json.dumps(row) + "\n")
        samples.flush()
        if config.run.eval_every and (grpo_step + 1) % config.run.eval_every == 0 and grpo_step + 1 < g.n_grpo_steps:
            run_eval(run)
        if run.out_of_time():
            break
    samples.close()
    final = run_eval(run).metrics
    return finish_run(run, {"start": start, "final": final})
