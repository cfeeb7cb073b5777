"""Token data for LM training: uint16 memmaps and random-window batches (handout §5.1, spec §1.3.7).

Token files are written by `cs336-basics encode` as `.npy` (uint16; 10K and 32K vocabularies fit below 65,536).
Raw `.bin` files of little-endian uint16 are accepted too. Files are memory-mapped, so a batch reads only the
B windows it samples, never the whole file.
"""

from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch
from jaxtyping import Int
from torch import Tensor

from cs336_basics.errors import DataFileError

TOKEN_DTYPE = np.uint16
_SCAN_CHUNK = 1 << 24  # tokens per chunk when scanning a file for its max id (32 MiB of uint16)


def load_tokens(path: str | Path) -> np.ndarray:
    """Memory-map a token file (`.npy` or raw uint16 `.bin`), with clear errors for missing or corrupt files."""
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"token file not found: {path} (create it with `cs336-basics encode`)")
    try:
        if path.suffix == ".npy":
            tokens = np.load(path, mmap_mode="r", allow_pickle=False)
        else:
            if path.stat().st_size % np.dtype(TOKEN_DTYPE).itemsize:
                raise DataFileError(f"{path}: size {path.stat().st_size} B is not a whole number of uint16 tokens")
            tokens = np.memmap(path, dtype=TOKEN_DTYPE, mode="r")
    except (ValueError, OSError, EOFError) as exc:
        raise DataFileError(f"cannot read token file {path}: {exc}") from exc
    if tokens.ndim != 1:
        raise DataFileError(f"{path}: expected a 1-D token array, got shape {tokens.shape}")
    if not np.issubdtype(tokens.dtype, np.integer):
        raise DataFileError(f"{path}: expected integer token ids (uint16), got dtype {tokens.dtype}")
    return tokens


def max_token_id(tokens: np.ndarray) -> int:
    """Largest id in a (possibly memory-mapped) token array, scanned in chunks to bound memory."""
    if len(tokens) == 0:
        return -1
    return max(int(tokens[i : i + _SCAN_CHUNK].max()) for i in range(0, len(tokens), _SCAN_CHUNK))


def validate_tokens(tokens: np.ndarray, *, vocab_size: int, context_length: int, name: str) -> None:
    """Fail before training if a file is too short for one window or holds ids the model cannot embed."""
    if len(tokens) < context_length + 1:
        raise DataFileError(f"{name} has {len(tokens)} tokens; need at least context_length + 1 = {context_length + 1}")
    if np.issubdtype(tokens.dtype, np.signedinteger) and int(tokens.min()) < 0:
        raise DataFileError(f"{name} holds negative token ids")
    top = max_token_id(tokens)
    if top >= vocab_size:
        raise DataFileError(f"{name} holds token id {top} >= model.vocab_size ({vocab_size}); wrong tokenizer?")


def sample_starts(
    dataset: npt.NDArray, count: int, context_length: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """`count` window start indices, uniform on [0, len(x) - m - 1] inclusive (len - m choices).

    One draw of `count` equals consecutive draws of its parts (torch's CPU sampler is serial), so a training step
    can draw its whole global batch at once and hand each (micro-step, rank) a slice of it: the data a run sees
    depends on the global batch only, not on how it is split across ranks and micro-steps.
    """
    num_starts = len(dataset) - context_length
    if num_starts < 1:
        raise DataFileError(
            f"dataset has {len(dataset)} tokens; need at least context_length + 1 = {context_length + 1}"
        )
    return torch.randint(0, num_starts, (count,), generator=generator)


def batch_at(
    dataset: npt.NDArray, starts: torch.Tensor, context_length: int, device: str | torch.device
) -> tuple[Int[Tensor, "batch seq"], Int[Tensor, "batch seq"]]:
    """Inputs x[i:i+m] and targets x[i+1:i+m+1] for each start i, as int64 on `device` (pinned + non_blocking
    copy for CUDA)."""
    device = torch.device(device)
    # Touch the device first so that an invalid one (cuda:99, or cuda on a CPU-only torch) raises here.
    torch.empty(0, device=device)
    offsets = np.arange(context_length + 1)
    windows = torch.from_numpy(np.asarray(dataset[starts.numpy()[:, None] + offsets], dtype=np.int64))
    if device.type == "cuda":
        windows = windows.pin_memory().to(device, non_blocking=True)
    else:
        windows = windows.to(device)
    return windows[:, :-1], windows[:, 1:]


def get_batch(
    dataset: npt.NDArray,
    batch_size: int,
    context_length: int,
    device: str | torch.device,
    generator: torch.Generator | None = None,
) -> tuple[Int[Tensor, "batch seq"], Int[Tensor, "batch seq"]]:
    """Sample `batch_size` random windows: inputs x[i:i+m], targets x[i+1:i+m+1], as int64 on `device`.

    Start indices are uniform on [0, len(x) - m - 1] inclusive (len - m choices), drawn with `generator` when given
    (a CPU torch.Generator, so a run's data order is part of its saved RNG state). For CUDA the batch is staged in
    pinned memory and copied with non_blocking=True.
    """
    torch.empty(0, device=torch.device(device))  # an invalid device fails before the generator advances
    return batch_at(dataset, sample_starts(dataset, batch_size, context_length, generator), context_length, device)
