"""Loading and querying fastText models (language ID, Dolma classifiers, our quality classifier).

Models are loaded once per process and cached by path: a pool worker that scores thousands of documents pays the
load (up to ~1 GB for the Dolma models) once. With the `fork` start method the loaded model is shared copy-on-write.

fastText quirks handled here (spec §1.4, §6): a newline in the input raises, so newlines become spaces; the
probabilities can exceed 1 by ~1e-5 (fastText adds 1e-5 inside its log), so they are clamped to [0, 1]; we call the
low-level `predict` of the bound model, which returns plain Python lists and so also works under NumPy 2.
"""

import functools
import logging
import os
import threading
from pathlib import Path
from typing import Any

from cs336_data.errors import AssetNotFoundError, MissingExtraError

logger = logging.getLogger(__name__)
LABEL_PREFIX = "__label__"
_LOAD_LOCK = threading.Lock()


def import_fasttext() -> Any:
    """The `fasttext` module (from the `fasttext-community` build), with an install hint when it is missing."""
    try:
        import fasttext
    except ImportError as exc:
        raise MissingExtraError("fastText is not installed: `uv sync` (dependency fasttext-community)") from exc
    # fasttext prints a warning on every load_model about a deprecated API; silence it once.
    fasttext.FastText.eprint = lambda *args, **kwargs: None
    return fasttext


@functools.lru_cache(maxsize=8)
def _load_cached(path: str, mtime_ns: int) -> Any:
    fasttext = import_fasttext()
    logger.info("loading fastText model %s", path)
    return fasttext.load_model(path)


def load_fasttext_model(path: str | os.PathLike) -> Any:
    """Load (once per process, per file version) the fastText model at `path`."""
    path = Path(path)
    if not path.is_file():
        raise AssetNotFoundError(f"fastText model {path} does not exist")
    with _LOAD_LOCK:
        return _load_cached(str(path.resolve()), path.stat().st_mtime_ns)


def prepare_text(text: str) -> str:
    """One line of input for fastText: every newline (and other line separators) becomes a space."""
    return " ".join(text.split("\n")).replace("\r", " ").strip()


def predict_labels(model: Any, text: str, k: int = 1) -> list[tuple[str, float]]:
    """Top-`k` (label without `__label__`, probability clamped to [0, 1]) pairs, best first."""
    line = prepare_text(text)
    pairs = model.f.predict(line + "\n", k, 0.0, "strict")
    out = []
    for prob, label in pairs:
        name = label[len(LABEL_PREFIX) :] if label.startswith(LABEL_PREFIX) else label
        out.append((name, min(1.0, max(0.0, float(prob)))))
    return out


def label_probability(model: Any, text: str, label: str) -> float:
    """P(`label`) under a (typically binary) fastText model; 0.0 when the label is not in the top predictions."""
    for name, prob in predict_labels(model, text, k=-1):
        if name == label:
            return prob
    return 0.0
