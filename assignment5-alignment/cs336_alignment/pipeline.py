"""The mini-A5 pipeline on the synthetic ArithWord task (spec §4.4): tokenizer -> pretrain -> zero-shot eval ->
SFT -> expert iteration -> GRPO, all through the same SFT/EI/GRPO code a Qwen run uses.

Stage 0 trains a byte-level BPE (digits split one by one, as Qwen does; `<|endoftext|>` special) with the
`tokenizers` library, wraps it as a `PreTrainedTokenizerFast`, and pretrains an assignment-1 `TransformerLM` on
problems followed by answers in assorted formats (a stand-in for a math-pretrained base). Stages 1-3 then call
`run_sft`, `run_expert_iteration` and `run_grpo` with configs derived from this one. EI and GRPO both start from
the SFT checkpoint by default (`stages.grpo_init = "sft"`), so both are compared against SFT.

    cs336-alignment mini-a5 --config configs/debug_cpu.toml                  # CPU plumbing, about a minute
    cs336-alignment mini-a5 --config configs/mini_a5_h100.toml               # GPU, <= 10 minutes per stage
"""

import dataclasses
import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from cs336_alignment.config import (
    DataConfig,
    EIConfig,
    EIRunConfig,
    GRPOConfig,
    GRPORunConfig,
    ModelConfig,
    OptimConfig,
    RunConfig,
    SamplingConfig,
    SFTConfig,
    SFTRunConfig,
    config_to_dict,
)
from cs336_alignment.data import load_task
from cs336_alignment.data.synthetic import pretrain_documents
from cs336_alignment.errors import ConfigError
from cs336_alignment.metrics import MetricsLogger, env_info, make_run_dir, write_json
from cs336_alignment.policy import resolve_device, save_policy, seed_everything
from cs336_alignment.rewards import get_protocol

logger = logging.getLogger(__name__)
EOS = "<|endoftext|>"


@dataclass(frozen=True, kw_only=True)
class PretrainConfig:
    vocab_size: int = 512
    context_length: int = 256
    d_model: int = 256
    num_layers: int = 4
    num_heads: int = 4
    d_ff: int = 768
    steps: int = 2000
    batch_size: int = 64
    lr: float = 2e-3
    warmup_steps: int = 100
    num_docs: int = 20000
    attn_backend: str = "torch"  # torch's fused SDPA for speed; "ours" is the graded implementation
    use_bf16_autocast: bool = True  # on CUDA only
    time_budget_s: float = 0.0


@dataclass(frozen=True, kw_only=True)
class StagesConfig:
    run_sft: bool = True
    run_ei: bool = True
    run_grpo: bool = True
    grpo_init: str = "sft"  # sft | ei: which checkpoint GRPO starts from
    sft_eval_every: int = 0
    ei_eval_every: int = 1
    grpo_eval_every: int = 10
    greedy_eval: bool = True  # after the stages, evaluate every stage's final model at temperature 0 as well
    base_model: str = ""  # a saved base model directory: skip stage 0 (tokenizer + pretraining) and start from it
    sft_time_budget_s: float = 0.0
    ei_time_budget_s: float = 0.0
    grpo_time_budget_s: float = 0.0

    def __post_init__(self) -> None:
        if self.grpo_init not in ("sft", "ei"):
            raise ConfigError(f"stages.grpo_init = {self.grpo_init!r}; expected 'sft' or 'ei'")


@dataclass(frozen=True, kw_only=True)
class PipelineConfig:
    data: DataConfig = field(default_factory=lambda: DataConfig(prompt="r1_zero_short"))
    sampling: SamplingConfig = field(
        default_factory=lambda: SamplingConfig(max_tokens=96, eval_max_tokens=96, min_tokens=4)
    )
    run: RunConfig = field(default_factory=RunConfig)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    stages: StagesConfig = field(default_factory=StagesConfig)
    sft_optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=3e-4))
    sft: SFTConfig = field(default_factory=lambda: SFTConfig(train_batch_size=64, gradient_accumulation_steps=1))
    ei: EIConfig = field(default_factory=lambda: EIConfig(n_ei_steps=3, questions_per_step=512, group_size=4))
    grpo_optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=3e-5))
    grpo: GRPOConfig = field(
        default_factory=lambda: GRPOConfig(
            n_grpo_steps=50, rollout_batch_size=256, group_size=8, train_batch_size=256, gradient_accumulation_steps=4
        )
    )


def train_tokenizer(texts: list[str], vocab_size: int, directory: Path):
    """Byte-level BPE with single-digit pre-tokens, saved and returned as a `PreTrainedTokenizerFast`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=[EOS], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(texts, trainer)
    wrapped = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, pad_token=EOS)
    wrapped.save_pretrained(str(directory))
    return wrapped


def _pretrain_stream(docs: list[str], tokenizer) -> torch.Tensor:
    ids: list[int] = []
    for doc_ids in tokenizer(docs, add_special_tokens=False)["input_ids"]:
        ids += doc_ids
        ids.append(tokenizer.eos_token_id)
    return torch.tensor(ids, dtype=torch.long)


def _pretrain_lr(step: int, p: PretrainConfig, elapsed_s: float = 0.0) -> float:
    """Linear warm-up, then cosine decay to 10% of the peak.

    With a time budget the decay follows whichever is further along, steps or wall clock, so a run the budget cuts
    short still ends with a decayed learning rate (the step count need not be calibrated to the hardware).
    """
    if step < p.warmup_steps:
        return p.lr * (step + 1) / p.warmup_steps
    progress = (step - p.warmup_steps) / max(p.steps - p.warmup_steps, 1)
    if p.time_budget_s:
        progress = max(progress, elapsed_s / p.time_budget_s)
    progress = min(progress, 1.0)
    return p.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def pretrain(cfg: PipelineConfig, run_dir: Path, device: torch.device) -> Path:
    """Stage 0: tokenizer + base LM on the assorted-format corpus; returns the saved model directory."""
    from cs336_basics.model import TransformerLM

    p = cfg.pretrain
    train, _ = load_task(cfg.data)
    docs = pretrain_documents(train[: p.num_docs], seed=cfg.run.seed)
    protocol = get_protocol(cfg.data.prompt)
    # A 50k-document sample fixes the BPE merges as well as the whole corpus would, in a fraction of the time.
    tokenizer = train_tokenizer(docs[:50_000] + [protocol.template], p.vocab_size, run_dir / "tokenizer")
    stream = _pretrain_stream(docs, tokenizer).to(device)
    offsets = torch.arange(p.context_length + 1, device=device)
    model = TransformerLM(
        vocab_size=len(tokenizer),
        context_length=p.context_length,
        d_model=p.d_model,
        num_layers=p.num_layers,
        num_heads=p.num_heads,
        d_ff=p.d_ff,
        attn_backend=p.attn_backend,
        device=device,
    )
    opt = torch.optim.AdamW(
        model.parameters(), lr=p.lr, betas=(0.9, 0.95), weight_decay=0.1, fused=device.type == "cuda"
    )
    metrics = MetricsLogger.for_run(run_dir, 50, False, "", {})
    gen = torch.Generator().manual_seed(cfg.run.seed)
    use_amp = device.type == "cuda" and p.use_bf16_autocast
    started = time.perf_counter()
    for step in range(p.steps):
        lr = _pretrain_lr(step, p, time.perf_counter() - started)
        for group in opt.param_groups:
            group["lr"] = lr
        starts = torch.randint(0, len(stream) - p.context_length - 1, (p.batch_size,), generator=gen)
        window = stream[starts.to(device).unsqueeze(1) + offsets]
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
            loss = model.loss(window[:, :-1], window[:, 1:])
        loss.backward()
        loss = loss.detach()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        out_of_time = bool(p.time_budget_s) and time.perf_counter() - started > p.time_budget_s
        if step % 50 == 0 or step == p.steps - 1 or out_of_time:
            tokens_per_s = (step + 1) * p.batch_size * p.context_length / (time.perf_counter() - started)
            metrics.log(
                {
                    "pretrain/loss": loss.item(),
                    "pretrain/lr": lr,
                    "pretrain/tokens": (step + 1) * p.batch_size * p.context_length,
                    "perf/train_tokens_per_s": tokens_per_s,
                },
                step,
            )
        if out_of_time:
            break
    metrics.close()
    write_json(run_dir / "summary.json", {"steps": step + 1, "wall_s": time.perf_counter() - started})
    return save_policy(model, tokenizer, run_dir / "model")


def _stage_run(cfg: PipelineConfig, name: str, eval_every: int, budget: float, out_dir: Path) -> RunConfig:
    return dataclasses.replace(
        cfg.run, name=name, out_dir=str(out_dir), eval_every=eval_every, time_budget_s=budget, resume=""
    )


def run_pipeline(cfg: PipelineConfig) -> dict[str, Any]:
    """All stages in one run directory; returns (and writes to summary.json) every stage's summary."""
    seed_everything(cfg.run.seed)
    device = resolve_device(cfg.run.device)
    root = make_run_dir(cfg.run.out_dir, f"mini-a5-{cfg.run.name}")
    write_json(root / "config.json", config_to_dict(cfg))
    write_json(root / "env.json", env_info())
    t0 = time.perf_counter()
    if cfg.stages.base_model:
        base_dir = Path(cfg.stages.base_model)
        if not (base_dir / "config.json").is_file():
            raise ConfigError(f"stages.base_model = {str(base_dir)!r} is not a saved model directory")
        summary: dict[str, Any] = {"pretrain_s": 0.0, "base_model": str(base_dir), "pretrain_steps": 0}
    else:
        (root / "pretrain").mkdir()
        base_dir = pretrain(cfg, root / "pretrain", device)
        summary = {"pretrain_s": time.perf_counter() - t0, "base_model": str(base_dir)}
        summary["pretrain_steps"] = json.loads((root / "pretrain" / "summary.json").read_text())["steps"]
    model = ModelConfig(kind="basics", path=str(base_dir), engine="native")
    common = dict(data=cfg.data, sampling=cfg.sampling)
    stages = root / "stages"
    s = cfg.stages
    sft_dir = base_dir
    if s.run_sft:
        from cs336_alignment.sft import run_sft

        sft_cfg = SFTRunConfig(
            model=model,
            optim=cfg.sft_optim,
            sft=cfg.sft,
            **common,
            run=_stage_run(cfg, "sft", s.sft_eval_every, s.sft_time_budget_s, stages),
        )
        summary["sft"] = run_sft(sft_cfg)
        summary["zero_shot"] = summary["sft"]["start"]
        sft_dir = Path(summary["sft"]["run_dir"]) / "model"
    ei_dir = sft_dir
    if s.run_ei:
        from cs336_alignment.expert_iteration import run_expert_iteration

        ei_cfg = EIRunConfig(
            model=dataclasses.replace(model, path=str(sft_dir)),
            optim=cfg.sft_optim,
            sft=cfg.sft,
            ei=cfg.ei,
            **common,
            run=_stage_run(cfg, "ei", s.ei_eval_every, s.ei_time_budget_s, stages),
        )
        summary["ei"] = run_expert_iteration(ei_cfg)
        ei_dir = Path(summary["ei"]["run_dir"]) / "model"
    if s.run_grpo:
        from cs336_alignment.grpo_train import run_grpo

        init = ei_dir if s.grpo_init == "ei" else sft_dir
        grpo_cfg = GRPORunConfig(
            model=dataclasses.replace(model, path=str(init)),
            optim=cfg.grpo_optim,
            grpo=cfg.grpo,
            **common,
            run=_stage_run(cfg, "grpo", s.grpo_eval_every, s.grpo_time_budget_s, stages),
        )
        summary["grpo"] = run_grpo(grpo_cfg)
    if s.greedy_eval:
        dirs = {"zero_shot": base_dir}
        for stage in ("sft", "ei", "grpo"):
            if stage in summary:
                dirs[stage] = Path(summary[stage]["run_dir"]) / "model"
        summary["greedy"] = greedy_evals(cfg, dirs, device)
    summary["wall_s"] = time.perf_counter() - t0
    write_json(root / "summary.json", summary)
    (root / "results.md").write_text(results_table(summary))
    try:
        from cs336_alignment.plotting import plot_pipeline

        plot_pipeline(root, summary)
    except ImportError:  # matplotlib missing: curves are optional
        logger.warning("matplotlib not importable; no pipeline plot")
    return {"run_dir": str(root), **summary}


def greedy_evals(cfg: PipelineConfig, model_dirs: dict[str, Path], device: torch.device) -> dict[str, dict]:
    """Temperature-0 validation metrics of each stage's final model (a second view next to the sampled eval)."""
    from cs336_alignment.evaluate import evaluate_policy
    from cs336_alignment.policy import load_policy
    from cs336_alignment.rollout import build_engine
    from cs336_alignment.rollout.base import SamplingParams

    _, val = load_task(cfg.data)
    protocol = get_protocol(cfg.data.prompt)
    params = SamplingParams(temperature=0.0, max_tokens=cfg.sampling.eval_max_tokens, stop=protocol.stop)
    out = {}
    for stage, directory in model_dirs.items():
        model, tokenizer = load_policy(ModelConfig(kind="basics", path=str(directory)), device)
        engine = build_engine("native", model, tokenizer, max_batch_rows=cfg.sampling.max_batch_rows)
        out[stage] = evaluate_policy(engine, val, protocol, params, prefix="greedy/").metrics
        del model, engine
    return out


STAGES = ("zero_shot", "sft", "ei", "grpo")


def stage_metrics(summary: dict[str, Any], stage: str) -> dict[str, float] | None:
    """Final validation metrics of a stage (zero-shot: the SFT run's starting evaluation)."""
    if stage == "zero_shot":
        return summary.get("zero_shot")
    return summary[stage]["final"] if stage in summary else None


def results_table(summary: dict[str, Any]) -> str:
    """Markdown: validation format / answer accuracy per stage, sampled and greedy, with stage wall times."""
    lines = [
        "| stage | format acc | answer acc | answer acc among formatted | greedy format | greedy answer | "
        "optimizer steps | stage wall s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for stage in STAGES:
        m = stage_metrics(summary, stage)
        if m is None:
            continue
        formatted = m["eval/num_correct"] + m["eval/num_format_wrong_answer"]
        cond = m["eval/num_correct"] / formatted if formatted else float("nan")
        g = summary.get("greedy", {}).get(stage, {})
        gf = f"{g['greedy/format_accuracy']:.3f}" if g else "-"
        ga = f"{g['greedy/answer_accuracy']:.3f}" if g else "-"
        if stage == "zero_shot":  # the base model: pretraining's steps and time
            steps, wall = summary.get("pretrain_steps", 0), summary.get("pretrain_s", 0.0)
        else:
            steps, wall = summary[stage]["step"], summary[stage]["wall_s"]
        lines.append(
            f"| {stage} | {m['eval/format_accuracy']:.3f} | {m['eval/answer_accuracy']:.3f} | {cond:.3f} | {gf} | "
            f"{ga} | {steps} | {wall:.0f} |"
        )
    return "\n".join(lines) + "\n"
