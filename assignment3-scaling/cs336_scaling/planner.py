"""Budget planner: spends a training-API budget on a scaling study, fits the law and final-submits (spec §5.6-5.7).

    uv run cs336-scaling plan --embedded --world-seed 1            # whole study on the simulated backend, seconds
    uv run cs336-scaling plan --url http://127.0.0.1:8000 --api-key 12345678

Stages: (1) LR sweeps at three small widths, a parabola in ln(lr) per width, then eta*(N) as a power law;
(1b, optional: `batch_candidates`) a batch sweep at small widths that keeps the largest batch within
`batch_tolerance` of the best loss; (2) IsoFLOP ladders (C = 6·N·D, N = non-embedding parameters) centred on
the running estimate of N_opt(C);
(3) a Chinchilla approach-3 fit of L(N, D) on the ladder runs and a throughput model fitted to the measured
runtimes (effective FLOP/s = c·d/(d+h)); (4) a confirmation run at the predicted optimal shape with the leftover
budget, refit; (5) the wall-clock-optimal config for the target (48 B200-hours) under the fitted law and throughput.
Shapes follow one family: head_dim 64, d/L = 64, d_ff = 8/3·d rounded up to 64, batch 256 sequences.
"""

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
from scipy.optimize import minimize_scalar

from cs336_scaling.analysis import ParametricLaw, fit_parametric
from cs336_scaling.analysis.isoflops import IsoRun, fit_power_law, optimum_parabola
from cs336_scaling.api import SEQ_LEN, AdamWConfig, ArchitectureConfig, TrainingConfig, WarmupCosineDecay
from cs336_scaling.backends.simulated import flops_per_token
from cs336_scaling.client import Client
from cs336_scaling.errors import FitError, ScalingError

logger = logging.getLogger(__name__)
ASPECT = 64


@dataclass(frozen=True, kw_only=True)
class PlannerConfig:
    target_seconds: float = 48 * 3600.0
    batch_size: int = 256  # used when batch_candidates is empty; otherwise the batch sweep picks it
    # Off by default: on the simulated worlds a small-scale sweep at equal tokens picks batches that are right for
    # the high-loss regime but wrong at the target, where the critical batch is far larger (LOG.md, 2026-11-23).
    batch_candidates: tuple[int, ...] = ()
    batch_sweep_widths: tuple[int, ...] = (256, 512)
    batch_tolerance: float = 0.01  # the largest batch within this loss of the best one wins (it runs faster)
    n_evals: int = 8
    lr_sweep_widths: tuple[int, ...] = (256, 384, 512)
    lr_sweep_tokens_per_param: float = 20.0
    lr_grid: tuple[float, ...] = tuple(float(x) for x in np.geomspace(3e-4, 3e-2, 7))
    n_levels: int = 4
    level_ratio: float = 3.0
    sizes_per_level: int = 7
    size_spacing: float = 1.5
    ladder_fraction: float = 0.8
    runtime_margin: float = 1.5

    def __post_init__(self) -> None:
        if self.n_levels < 2:
            raise ScalingError(f"n_levels ({self.n_levels}) must be >= 2 to fit a scaling law")
        if self.sizes_per_level < 3:
            raise ScalingError(f"sizes_per_level ({self.sizes_per_level}) must be >= 3 for a parabola")
        if not 0 < self.ladder_fraction <= 1:
            raise ScalingError(f"ladder_fraction ({self.ladder_fraction}) must be in (0, 1]")


def shape(d_model: int) -> ArchitectureConfig:
    d = max(128, int(round(d_model / 64)) * 64)
    return ArchitectureConfig(
        hidden_size=d, head_dim=64, num_attention_heads=d // 64, num_key_value_heads=d // 64,
        num_hidden_layers=max(1, round(d / ASPECT)), intermediate_size=int(math.ceil(8 * d / 3 / 64) * 64),
    )  # fmt: skip


def width_for_params(n: float) -> int:
    """Width of the family member whose non-embedding count (≈ 12·(d/64)·d²) is closest to n in log space."""
    guess = (n * ASPECT / 12) ** (1 / 3)
    cands = {max(128, int(round(guess / 64 + k)) * 64) for k in (-1, 0, 1)}
    return min(cands, key=lambda d: abs(math.log(shape(d).non_embedding_params / n)))


def make_config(d_model: int, tokens: float, lr: float, p: PlannerConfig, max_runtime: float, n_evals: int):
    quantum = SEQ_LEN * p.batch_size * n_evals
    tok = max(quantum, int(round(tokens / quantum)) * quantum)
    opt = AdamWConfig(lr_scheduler=WarmupCosineDecay(peak_value=float(lr)))
    return TrainingConfig(
        architecture_config=shape(d_model), optimizer_config=opt, train_batch_size=p.batch_size, n_evals=n_evals,
        total_train_tokens=tok, max_runtime_seconds=float(min(43200.0, max(1.0, max_runtime))),
    )  # fmt: skip


@dataclass
class Throughput:
    """Effective FLOP/s = c·d/(d + h) for the planner's fixed batch; fitted as 1/eff = a + b/d by least squares."""

    a: float = 1 / 6e14
    b: float = 0.0
    batch: int | None = None  # fit only observations of this batch size when they span >= 2 widths
    obs: list[tuple[float, int, float]] = field(default_factory=list)

    def add(self, cfg: TrainingConfig, runtime: float) -> None:
        arch = cfg.architecture_config
        eff = flops_per_token(arch) * cfg.total_train_tokens / runtime
        self.obs.append((arch.hidden_size, cfg.train_batch_size, eff))
        self.refit()

    def refit(self) -> None:
        same = [o for o in self.obs if o[1] == self.batch]
        use = same if len({o[0] for o in same}) >= 2 else self.obs
        if not use:
            return
        ds = np.array([o[0] for o in use])
        inv = 1 / np.array([o[2] for o in use])
        if len(np.unique(ds)) >= 2:
            b, a = np.polyfit(1 / ds, inv, 1)
            if a > 0:
                self.a, self.b = float(a), float(max(b, 0.0))
        else:
            self.a, self.b = float(inv.mean()), 0.0

    def flops_per_s(self, d: float) -> float:
        return 1.0 / (self.a + self.b / d)

    def seconds(self, cfg: TrainingConfig) -> float:
        arch = cfg.architecture_config
        return flops_per_token(arch) * cfg.total_train_tokens / self.flops_per_s(arch.hidden_size)


@dataclass(frozen=True)
class PlanResult:
    final_config: TrainingConfig
    predicted_loss: float
    predicted_n: float
    law: ParametricLaw
    lr_law: tuple[float, float]
    isoflops_exponent: float | None  # approach-2 exponent of N_opt(C) over the ladder's parabola vertices
    n_runs: int
    budget_used: float
    log: list[str]


class Planner:
    def __init__(
        self, client: Client, config: PlannerConfig | None = None, *, echo: Callable[[str], None] = logger.info
    ):
        self.api, self.p, self.echo = client, config or PlannerConfig(), echo
        self.tput = Throughput()
        self.log: list[str] = []
        self.n_runs = 0

    def _say(self, msg: str) -> None:
        self.log.append(msg)
        self.echo(msg)

    def _run_all(self, configs: list[TrainingConfig]) -> list[tuple[TrainingConfig, float | None]]:
        """Submit what the budget allows, wait, return (config, final loss or None), and feed the throughput model."""
        ids = []
        for cfg in configs:
            if cfg.max_runtime_seconds > self.api.get_budget().remaining_seconds:
                self._say(f"skip d={cfg.architecture_config.hidden_size}: reservation exceeds the remaining budget")
                continue
            ids.append((cfg, self.api.submit_experiment(cfg).experiment_id))
        out = []
        for cfg, exp_id in ids:
            exp = self.api.wait_for(exp_id)
            self.n_runs += 1
            st = exp.status
            if st.status_type == "completed":
                self.tput.add(cfg, st.used_runtime_seconds)
                out.append((cfg, st.val_losses[-1]))
            else:
                out.append((cfg, None))
        return out

    def _reserve(self, d: int, tokens: float, n_evals: int) -> float:
        probe = make_config(d, tokens, 1e-3, self.p, 1.0, n_evals)
        return self.tput.seconds(probe) * self.p.runtime_margin + 5

    def lr_sweep(self) -> tuple[float, float]:
        """eta*(N) = coef · N^exponent from parabola vertices in ln(lr) at the sweep widths."""
        pts = []
        for d in self.p.lr_sweep_widths:
            n = shape(d).non_embedding_params
            tokens = self.p.lr_sweep_tokens_per_param * n
            cfgs = [make_config(d, tokens, lr, self.p, self._reserve(d, tokens, 8) * 3, 8) for lr in self.p.lr_grid]
            res = [(c.optimizer_config.lr_scheduler.peak_value, loss) for c, loss in self._run_all(cfgs) if loss]
            res = [(lr, loss) for lr, loss in res if loss < math.log(32000) - 0.5]
            if len(res) < 3:
                continue
            x, y = np.log([r[0] for r in res]), np.array([r[1] for r in res])
            a, b, _ = np.polyfit(x, y, 2)
            best = -b / (2 * a) if a > 0 else float("nan")
            if not (a > 0 and x.min() <= best <= x.max()):
                best = float(x[np.argmin(y)])
            pts.append((n, math.exp(best)))
            self._say(f"lr sweep d={d}: N={n:.3g} best lr {math.exp(best):.3g}")
        if len(pts) < 2:
            raise FitError("LR sweep found fewer than 2 usable widths")
        slope, icpt = np.polyfit(np.log([p[0] for p in pts]), np.log([p[1] for p in pts]), 1)
        return float(math.exp(icpt)), float(slope)

    def batch_sweep(self, lr_for: Callable[[float], float]) -> int:
        """Largest batch whose loss (at eta*(N), fixed tokens) is within `batch_tolerance` of the best, averaged over
        the sweep widths: beyond the critical batch, larger batches cost data efficiency; below it they only
        cost throughput."""
        p = self.p
        excess: dict[int, list[float]] = {b: [] for b in p.batch_candidates}
        for d in p.batch_sweep_widths:
            n = shape(d).non_embedding_params
            tokens = p.lr_sweep_tokens_per_param * n
            cfgs = []
            for b in p.batch_candidates:
                pb = replace(p, batch_size=b)
                reserve = self._reserve(d, tokens, pb.n_evals) * 3
                cfgs.append(make_config(d, tokens, lr_for(n), pb, reserve, pb.n_evals))
            res = {c.train_batch_size: loss for c, loss in self._run_all(cfgs) if loss is not None}
            if res:
                best = min(res.values())
                for b, loss in res.items():
                    excess[b].append(loss - best)
        ok = [b for b, ex in excess.items() if ex and float(np.mean(ex)) <= p.batch_tolerance]
        chosen = max(ok) if ok else p.batch_size
        self._say(f"batch sweep: { ({b: round(float(np.mean(ex)), 4) for b, ex in excess.items() if ex}) } -> {chosen}")
        return chosen

    def run(self) -> PlanResult:
        start = self.api.get_budget()
        coef, expo = self.lr_sweep()
        lr_for = lambda n: coef * n**expo
        self._say(f"lr law: eta*(N) = {coef:.3g}·N^{expo:.3f}")
        if self.p.batch_candidates:
            self.p = replace(self.p, batch_size=self.batch_sweep(lr_for))
            self.tput.batch = self.p.batch_size
            self.tput.refit()
        p = self.p
        remaining = self.api.get_budget().remaining_seconds * p.ladder_fraction
        # Cost of a level ≈ sizes · C / eff; levels C_top / ratio^k: total ≈ sizes·C_top/eff · Σ ratio^-k.
        eff = self.tput.flops_per_s(768) * 6 / 7.5  # 6ND FLOPs per second, embeddings/attention overhead ~25%
        geo = sum(p.level_ratio**-k for k in range(p.n_levels))
        c_top = remaining * eff / (p.sizes_per_level * geo)
        levels = [c_top / p.level_ratio ** (p.n_levels - 1 - k) for k in range(p.n_levels)]
        ladder: list[tuple[TrainingConfig, float]] = []
        vertices: list[tuple[float, float]] = []
        for c in levels:
            if len(vertices) >= 2:
                k_, a_ = np.polyfit(np.log([v[0] for v in vertices]), np.log([v[1] for v in vertices]), 1)
                center = math.exp(a_ + k_ * math.log(c))
            elif vertices:
                center = vertices[-1][1] * (c / vertices[-1][0]) ** 0.5
            else:
                center = math.sqrt(c / 120)  # D ≈ 20 N prior
            half = (p.sizes_per_level - 1) / 2
            widths = sorted({width_for_params(center * p.size_spacing ** (j - half)) for j in range(p.sizes_per_level)})
            cfgs = []
            for d in widths:
                n = shape(d).non_embedding_params
                tokens = c / (6 * n)
                if tokens < SEQ_LEN * p.batch_size * p.n_evals:
                    continue
                cfgs.append(make_config(d, tokens, lr_for(n), p, self._reserve(d, tokens, p.n_evals), p.n_evals))
            done = [(cfg, loss) for cfg, loss in self._run_all(cfgs) if loss is not None]
            ladder += done
            runs = [IsoRun(cfg.architecture_config.non_embedding_params, c, loss) for cfg, loss in done]
            try:
                vertices.append((c, optimum_parabola(runs).n))
            except FitError as exc:
                best = min(done, key=lambda t: t[1]) if done else None
                if best is not None:
                    vertices.append((c, best[0].architecture_config.non_embedding_params))
                self._say(f"level C={c:.3g}: parabola failed ({exc}); using the argmin")
            self._say(f"level C={c:.3g}: {len(done)} runs, N_opt ≈ {vertices[-1][1]:.3g}" if vertices else "")
        law = self._fit(ladder)
        best_n, best_d, _ = self._target(law, lr_for)
        # confirmation run at the predicted optimal width, with what is left
        left = self.api.get_budget().remaining_seconds
        conf_tokens = (left * 0.6) * self.tput.flops_per_s(best_d) / flops_per_token(shape(best_d))
        if conf_tokens >= SEQ_LEN * p.batch_size * p.n_evals:
            n = shape(best_d).non_embedding_params
            conf = make_config(
                best_d, conf_tokens, lr_for(n), p, self._reserve(best_d, conf_tokens, p.n_evals), p.n_evals
            )
            got = [(cfg, loss) for cfg, loss in self._run_all([conf]) if loss is not None]
            if got:
                self._say(
                    f"confirmation d={best_d}: loss {got[0][1]:.4f} vs law {law.loss(n, conf.total_train_tokens):.4f}"
                )
                ladder += got
                law = self._fit(ladder)
        best_n, best_d, pred = self._target(law, lr_for)
        tps = self.tput.flops_per_s(best_d) / flops_per_token(shape(best_d))
        final = make_config(
            best_d, p.target_seconds * tps * 0.98, lr_for(shape(best_d).non_embedding_params), p, 43200, 16
        )
        pred = float(law.loss(final.architecture_config.non_embedding_params, final.total_train_tokens))
        self.api.save_final_submission(final, pred)
        end = self.api.get_budget()
        iso = fit_power_law([v[0] for v in vertices], [v[1] for v in vertices]).exponent if len(vertices) > 1 else None
        self._say(f"final: d={best_d} N={best_n:.3g} tokens={final.total_train_tokens:.3g} predicted loss {pred:.4f}")
        return PlanResult(
            final, pred, best_n, law, (coef, expo), iso, self.n_runs, end.used_seconds - start.used_seconds, self.log
        )

    def _fit(self, ladder: list[tuple[TrainingConfig, float]]) -> ParametricLaw:
        n = [c.architecture_config.non_embedding_params for c, _ in ladder]
        d = [c.total_train_tokens for c, _ in ladder]
        law = fit_parametric(n, d, [loss for _, loss in ladder], huber_delta=1e-2)
        self._say(f"approach 3: E={law.E:.3f} A={law.A:.4g} B={law.B:.4g} alpha={law.alpha:.3f} beta={law.beta:.3f}")
        return law

    def _target(self, law: ParametricLaw, lr_for: Callable[[float], float]) -> tuple[float, int, float]:
        """Minimise the fitted loss over N when D is what the target wall-clock buys at the fitted throughput."""

        def tokens(n: float) -> float:
            d = (n * ASPECT / 12) ** (1 / 3)
            f = 6 * (n + 32000 * d) + 6 * (d / ASPECT) * SEQ_LEN * d
            return self.p.target_seconds * self.tput.flops_per_s(d) / f

        res = minimize_scalar(
            lambda ln: law.loss(math.exp(ln), tokens(math.exp(ln))),
            bounds=(math.log(1e6), math.log(1e12)),
            method="bounded",
        )
        n = math.exp(res.x)
        return n, width_for_params(n), float(res.fun)
