"""NSFW and toxic-speech classification (handout §2.5).

    cs336-data harmful doc.txt

Labels are the public API: `nsfw`/`non-nsfw` and `toxic`/`non-toxic`; the score is the probability of the returned
label (>= 0.5 for a binary model). Backends, all with `classify(text) -> (label, prob)` and `positive_probability`:
- `FastTextFile`: any fastText model with the two label names (the Dolma Jigsaw bigram models are two such files;
  plumbing tests train a tiny one);
- `ProfanityCheck`: the offline stand-in, a linear model on offensive-language data shipped by the PyPI package
  `alt-profanity-check` (extra `offline-harmful`); P(offensive) stands for both P(nsfw) and P(toxic), so results
  with it are a proxy, not Dolma's.
`default_backend(kind)` picks the Dolma model when `resolve_asset(kind)` finds it, else ProfanityCheck, else raises.
"""

import functools
import os
from pathlib import Path
from typing import Protocol

import numpy as np

from cs336_data.assets import resolve_asset
from cs336_data.errors import AssetNotFoundError, ConfigError, MissingExtraError
from cs336_data.fasttext_model import label_probability, load_fasttext_model, prepare_text

LABELS = {"nsfw": ("nsfw", "non-nsfw"), "toxic": ("toxic", "non-toxic")}
PROFANITY_CUT = 0.5


class HarmfulBackend(Protocol):
    positive: str
    negative: str

    def positive_probability(self, text: str) -> float: ...


def _check_kind(kind: str) -> tuple[str, str]:
    if kind not in LABELS:
        raise ConfigError(f"harmful-content kind must be one of {sorted(LABELS)}, got {kind!r}")
    return LABELS[kind]


class FastTextFile:
    """A fastText binary classifier whose labels are `positive`/`negative` (e.g. Dolma's Jigsaw models)."""

    def __init__(self, model_path: str | os.PathLike, kind: str) -> None:
        self.positive, self.negative = _check_kind(kind)
        self.model_path = Path(model_path)
        self.model = load_fasttext_model(self.model_path)

    def positive_probability(self, text: str) -> float:
        return label_probability(self.model, text, self.positive)


# Dolma's models are exactly FastTextFile models; the name documents which files are meant.
DolmaFastText = FastTextFile


@functools.lru_cache(maxsize=1)
def _profanity_model():
    """(vectorizer, coef (k, F), intercept (k,), a (k,), b (k,)) of alt-profanity-check's calibrated linear SVMs.

    Its model is scikit-learn's CalibratedClassifierCV over k LinearSVC folds with sigmoid calibration, so
    P(offensive) = mean_k expit(-(a_k * (x . w_k + c_k) + b_k)). Evaluating that directly is ~10x faster per document
    than `predict_proba` (whose input validation dominates for one row); tests check it against `predict_prob`."""
    try:
        from profanity_check import profanity_check
    except ImportError as exc:
        raise MissingExtraError(
            "the offline harmful-content backend needs alt-profanity-check: install the extra "
            "`cs336-data[offline-harmful]`"
        ) from exc
    folds = profanity_check.model.calibrated_classifiers_
    coef = np.vstack([f.estimator.coef_.ravel() for f in folds])
    intercept = np.array([float(f.estimator.intercept_[0]) for f in folds])
    a = np.array([float(f.calibrators[0].a_) for f in folds])
    b = np.array([float(f.calibrators[0].b_) for f in folds])
    return profanity_check.vectorizer, coef, intercept, a, b


class ProfanityCheck:
    """Offline proxy: P(offensive) from alt-profanity-check's linear model, for either kind."""

    model_path = None

    def __init__(self, kind: str) -> None:
        self.positive, self.negative = _check_kind(kind)
        self._vectorizer, self._coef, self._intercept, self._a, self._b = _profanity_model()

    def positive_probability(self, text: str) -> float:
        features = self._vectorizer.transform([prepare_text(text)])
        decision = features @ self._coef.T + self._intercept  # (1, k)
        return float(np.mean(1.0 / (1.0 + np.exp(self._a * decision + self._b))))


def classify_with(backend: HarmfulBackend, text: str) -> tuple[str, float]:
    """(label, probability of that label) from a backend: positive iff P(positive) >= 0.5."""
    p = min(1.0, max(0.0, backend.positive_probability(text)))
    return (backend.positive, p) if p >= PROFANITY_CUT else (backend.negative, 1.0 - p)


@functools.lru_cache(maxsize=4)
def default_backend(kind: str) -> HarmfulBackend:
    """Dolma's fastText model when present, otherwise the ProfanityCheck stand-in (cached per process)."""
    _check_kind(kind)
    try:
        return FastTextFile(resolve_asset(kind), kind)
    except AssetNotFoundError as missing:
        try:
            return ProfanityCheck(kind)
        except MissingExtraError as no_extra:
            raise AssetNotFoundError(f"{missing}; and the offline fallback is unavailable: {no_extra}") from None


def classify_nsfw(text: str) -> tuple[str, float]:
    """("nsfw" | "non-nsfw", probability of that label)."""
    return classify_with(default_backend("nsfw"), text)


def classify_toxic_speech(text: str) -> tuple[str, float]:
    """("toxic" | "non-toxic", probability of that label)."""
    return classify_with(default_backend("toxic"), text)
