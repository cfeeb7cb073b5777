"""Local backend: actually trains the assignment-1 TransformerLM on uint16 token shards, charging real seconds
(spec §4.4, backend B).

    uv run cs336-scaling make-corpus --out data/synthetic --train-tokens 20000000
    uv run cs336-scaling serve --backend local --data-dir data/synthetic --budget-seconds 1800

Data layout as on the course's API: `train/000.npy, 001.npy, …` and `validation/0.npy`, uint16. The stream is cut
into fixed 512-token windows; windows are permuted inside each shard with `default_rng(shard_idx)`, so the first T
tokens and their order are the same for every config. Validation uses the first `val_tokens` + 1 tokens of
`validation/0.npy` (2^18 + 1 by default) and reports the mean over sequences of per-sequence mean CE.

The runtime clock starts just before the first training chunk (model build, data loading and warm-up are not
charged), is checked before every chunk and once after the loop, as on the real API.

Deviations from the course's model: the A1 TransformerLM has no QK-norm and its AdamW has no `eps_root` (1e-8 in
the course, numerically negligible); `attention_bias` is not supported (rejected with an error). SGD is
`torch.optim.SGD` without momentum. Parameters are kept in fp32; `dtype="bfloat16"` trains under bf16 autocast.
"""

import logging
import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from cs336_scaling.api import N_VAL_TOKENS, SEQ_LEN, SGDConfig, TrainingConfig
from cs336_scaling.backends import RunResult
from cs336_scaling.errors import ConfigError, DataError

logger = logging.getLogger(__name__)


class TokenShards:
    """Read-only view of `train/*.npy` (uint16) with the course's fixed window order."""

    def __init__(self, data_dir: str | Path) -> None:
        root = Path(data_dir)
        self.train_paths = sorted((root / "train").glob("*.npy"))
        self.val_path = root / "validation" / "0.npy"
        if not self.train_paths or not self.val_path.is_file():
            raise DataError(f"{root}: expected train/NNN.npy shards and validation/0.npy")
        self._shards = [np.load(p, mmap_mode="r") for p in self.train_paths]
        for p, s in zip(self.train_paths, self._shards):
            if s.dtype != np.uint16 or s.ndim != 1:
                raise DataError(f"{p}: expected a 1-D uint16 array, got {s.dtype} with shape {s.shape}")
        # window k of shard i covers tokens [k·512, k·512 + 513): 512 inputs and their next-token targets
        self._perms = [
            np.random.default_rng(i).permutation((len(s) - 1) // SEQ_LEN) for i, s in enumerate(self._shards)
        ]
        self._offsets = np.cumsum([0] + [len(p) for p in self._perms])
        self.windows = int(self._offsets[-1])
        self.max_token = max(int(np.max(s)) for s in self._shards)

    def train_windows(self, start: int, count: int) -> np.ndarray:
        """Windows [start, start + count) of the fixed stream, shape (count, 513), int64."""
        if start + count > self.windows:
            have = self.windows * SEQ_LEN
            raise DataError(f"run needs {(start + count) * SEQ_LEN} train tokens; the shards hold {have}")
        out = np.empty((count, SEQ_LEN + 1), dtype=np.int64)
        for row, k in enumerate(range(start, start + count)):
            i = int(np.searchsorted(self._offsets, k, side="right")) - 1
            j = int(self._perms[i][k - self._offsets[i]]) * SEQ_LEN
            out[row] = self._shards[i][j : j + SEQ_LEN + 1]
        return out

    def validation(self, n_tokens: int) -> tuple[np.ndarray, np.ndarray]:
        val = np.load(self.val_path, mmap_mode="r")
        n_seq = n_tokens // SEQ_LEN
        if len(val) < n_seq * SEQ_LEN + 1:
            raise DataError(f"{self.val_path} holds {len(val)} tokens; validation needs {n_seq * SEQ_LEN + 1}")
        flat = np.asarray(val[: n_seq * SEQ_LEN + 1], dtype=np.int64)
        return flat[:-1].reshape(n_seq, SEQ_LEN), flat[1:].reshape(n_seq, SEQ_LEN)


def make_synthetic_corpus(out_dir: str | Path, *, train_tokens: int, vocab_size: int = 512, seed: int = 0,
                          shard_tokens: int = 2**22, val_tokens: int = N_VAL_TOKENS) -> Path:  # fmt: skip
    """A seeded order-1 Markov corpus with Zipfian transitions (so there is structure to learn), as uint16 shards."""
    if not 2 <= vocab_size <= 65535:
        raise ConfigError(f"vocab_size ({vocab_size}) must be in [2, 65535] for uint16 shards")
    rng = np.random.default_rng(seed)
    ranks = np.arange(1, vocab_size + 1, dtype=np.float64)
    base = ranks**-1.1
    # each state prefers a random shuffle of the Zipf distribution, sharpened
    perms = np.stack([rng.permutation(vocab_size) for _ in range(vocab_size)])
    probs = base[np.argsort(perms, axis=1)] ** 1.5
    cdf = np.cumsum(probs / probs.sum(axis=1, keepdims=True), axis=1)

    def sample(n: int) -> np.ndarray:
        out = np.empty(n, dtype=np.uint16)
        state = int(rng.integers(vocab_size))
        u = rng.random(n)
        for i in range(n):
            state = int(np.searchsorted(cdf[state], u[i]))
            state = min(state, vocab_size - 1)
            out[i] = state
        return out

    root = Path(out_dir)
    (root / "train").mkdir(parents=True, exist_ok=True)
    (root / "validation").mkdir(parents=True, exist_ok=True)
    left, idx = train_tokens, 0
    while left > 0:
        n = min(shard_tokens, left)
        np.save(root / "train" / f"{idx:03d}.npy", sample(n))
        left, idx = left - n, idx + 1
    np.save(root / "validation" / "0.npy", sample(val_tokens + 1))
    return root


class LocalBackend:
    name = "local"

    def __init__(self, data_dir: str | Path | None, *, device: str = "auto", val_tokens: int = N_VAL_TOKENS) -> None:
        if data_dir is None:
            raise ConfigError("the local backend needs --data-dir with train/*.npy and validation/0.npy shards")
        try:
            import torch  # noqa: F401

            from cs336_basics.model import TransformerLM  # noqa: F401
        except ImportError as exc:
            raise ConfigError(f"the local backend needs torch and cs336_basics.model.TransformerLM: {exc}") from exc
        self.shards = TokenShards(data_dir)
        self.device = device
        self.val_tokens = val_tokens

    def _device(self) -> str:
        import torch

        if self.device != "auto":
            return self.device
        return "cuda" if torch.cuda.is_available() else "cpu"

    def run(self, cfg: TrainingConfig, on_val_losses: Callable[[list[float]], None]) -> RunResult:
        import torch

        from cs336_basics.model import TransformerLM
        from cs336_basics.optimizer import AdamW

        arch, opt_cfg = cfg.architecture_config, cfg.optimizer_config
        if arch.attention_bias:
            return RunResult("unexpected", [], 1.0, "ConfigError: attention_bias is not supported by the local model")
        if self.shards.max_token >= arch.vocab_size:
            msg = f"token id {self.shards.max_token} >= vocab_size {arch.vocab_size}"
            return RunResult("unexpected", [], 1.0, f"DataError: {msg}")
        have = self.shards.windows * SEQ_LEN
        if cfg.total_train_tokens > have:  # fail before training, not when the data runs out mid-run
            msg = f"run needs {cfg.total_train_tokens} train tokens; the shards hold {have}"
            return RunResult("unexpected", [], 1.0, f"DataError: {msg}")
        device = self._device()
        torch.manual_seed(cfg.model_seed)
        model = TransformerLM(
            arch.vocab_size, SEQ_LEN, arch.hidden_size, arch.num_hidden_layers, arch.num_attention_heads,
            arch.intermediate_size, float(arch.rope_theta), tie_embeddings=arch.tie_word_embeddings,
            norm_eps=arch.rms_norm_eps, attn_backend="torch", device=device,
        )  # fmt: skip
        sched = opt_cfg.lr_scheduler
        if isinstance(opt_cfg, SGDConfig):
            optim = torch.optim.SGD(model.parameters(), lr=sched.init_value, momentum=0.0)
        else:
            optim = AdamW(model.parameters(), lr=sched.init_value, betas=(opt_cfg.beta1, opt_cfg.beta2),
                          eps=opt_cfg.eps, weight_decay=opt_cfg.weight_decay)  # fmt: skip
        autocast = torch.autocast(
            device_type=device.split(":")[0], dtype=torch.bfloat16, enabled=arch.dtype == "bfloat16"
        )
        val_x, val_y = (torch.from_numpy(a).to(device) for a in self.shards.validation(self.val_tokens))
        losses: list[float] = []
        start = time.perf_counter()  # the clock starts just before the first chunk
        try:
            return self._train(cfg, model, optim, autocast, val_x, val_y, on_val_losses, losses, start)
        except torch.OutOfMemoryError as exc:  # boundary: reported like the API's RESOURCE_EXHAUSTED failures
            msg = str(exc).splitlines()[0]
            return RunResult("unexpected", losses, max(1.0, time.perf_counter() - start), f"OutOfMemoryError: {msg}")
        finally:
            del model, optim
            if device.startswith("cuda"):
                torch.cuda.empty_cache()

    def _train(self, cfg, model, optim, autocast, val_x, val_y, on_val_losses, losses, start) -> RunResult:  # noqa: ANN001
        import torch

        from cs336_basics.nn_utils import clip_gradient, cross_entropy

        opt_cfg = cfg.optimizer_config
        sched = opt_cfg.lr_scheduler
        steps, bs = cfg.total_optimizer_steps, cfg.train_batch_size
        per_chunk = steps // cfg.n_evals
        device = val_x.device
        for chunk in range(cfg.n_evals):
            if time.perf_counter() - start > cfg.max_runtime_seconds:
                return RunResult("timeout", losses, time.perf_counter() - start)
            model.train()
            for s in range(chunk * per_chunk, (chunk + 1) * per_chunk):
                batch = torch.from_numpy(self.shards.train_windows(s * bs, bs)).to(device)
                x, y = batch[:, :-1], batch[:, 1:]
                for group in optim.param_groups:
                    group["lr"] = sched.lr_at(s, steps)
                with autocast:
                    loss = cross_entropy(model(x).float(), y)
                optim.zero_grad(set_to_none=True)
                loss.backward()
                if opt_cfg.grad_clip_norm is not None:
                    clip_gradient(model.parameters(), opt_cfg.grad_clip_norm)
                optim.step()
            val = self._validate(model, val_x, val_y, cfg.val_batch_size, autocast)
            if not math.isfinite(val):
                msg = f"FloatingPointError: non-finite validation loss after eval {chunk + 1}"
                return RunResult("unexpected", losses, time.perf_counter() - start, msg)
            losses.append(val)
            on_val_losses(list(losses))
        elapsed = time.perf_counter() - start
        if elapsed > cfg.max_runtime_seconds:
            return RunResult("timeout", losses, elapsed)
        return RunResult("completed", losses, elapsed)

    @staticmethod
    def _validate(model, val_x, val_y, batch: int, autocast) -> float:  # noqa: ANN001
        import torch

        from cs336_basics.nn_utils import cross_entropy

        # every sequence has 512 targets, so the mean of per-sequence means is the batch-size-weighted mean
        model.eval()
        total = 0.0
        with torch.no_grad(), autocast:
            for i in range(0, len(val_x), batch):
                x, y = val_x[i : i + batch], val_y[i : i + batch]
                total += float(cross_entropy(model(x).float(), y)) * len(x)
        return total / len(val_x)
