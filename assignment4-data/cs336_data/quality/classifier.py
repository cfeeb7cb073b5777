"""The fastText quality classifier: training and scoring (handout §2.7).

    cs336-data train-quality --positives ../shared/data/corpora/english-docs.txt.gz --out-dir runs/quality

Labels: `wiki` (high quality) and `cc` (low). `classify_quality` returns the argmax label and its probability;
`quality_score` returns P(wiki) for threshold or percentile filtering. Training is deterministic (`thread=1`,
`seed=0`); the defaults (dim 32, bucket 100k) keep the model near 17 MB instead of fastText's 800 MB default, and
`quantize=True` writes a ~1 MB `.ftz`. Documents are scored on their first `max_words` words: fastText averages
embeddings, so a long document's signal is diluted anyway.
"""

import os
from dataclasses import asdict, dataclass
from pathlib import Path

from cs336_data.assets import resolve_asset
from cs336_data.fasttext_model import import_fasttext, label_probability, load_fasttext_model, predict_labels

POSITIVE, NEGATIVE = "wiki", "cc"
MAX_WORDS = 400


@dataclass(frozen=True, kw_only=True)
class QualityTrainParams:
    dim: int = 32
    epoch: int = 8
    lr: float = 0.5
    wordNgrams: int = 2  # noqa: N815 (fastText's own argument name)
    minCount: int = 2  # noqa: N815
    bucket: int = 100_000
    seed: int = 0
    thread: int = 1  # several threads make training nondeterministic


def train_quality_classifier(
    train_file: str | os.PathLike, out: str | os.PathLike, *, quantize: bool = False, **ft_params
) -> Path:
    """Train on a `__label__wiki|cc text` file and save to `out` (.bin, or .ftz when quantised)."""
    fasttext = import_fasttext()
    params = asdict(QualityTrainParams(**ft_params))
    model = fasttext.train_supervised(input=str(train_file), verbose=0, **params)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if quantize:
        model.quantize(input=str(train_file), cutoff=50_000, qnorm=True, retrain=False)
        out = out.with_suffix(".ftz")
    model.save_model(str(out))
    return out


def _truncate(text: str, max_words: int) -> str:
    return " ".join(text.split()[:max_words])


class QualityClassifier:
    def __init__(self, model_path: str | os.PathLike | None = None, max_words: int = MAX_WORDS) -> None:
        self.model_path = Path(model_path) if model_path is not None else resolve_asset("quality")
        self.model = load_fasttext_model(self.model_path)
        self.max_words = max_words

    def classify(self, text: str) -> tuple[str, float]:
        return predict_labels(self.model, _truncate(text, self.max_words), k=1)[0]

    def score(self, text: str) -> float:
        return label_probability(self.model, _truncate(text, self.max_words), POSITIVE)


_DEFAULT: QualityClassifier | None = None


def _default() -> QualityClassifier:
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = QualityClassifier()
    return _DEFAULT


def classify_quality(text: str) -> tuple[str, float]:
    """("wiki" | "cc", probability of that label) with the resolved quality model."""
    return _default().classify(text)


def quality_score(text: str) -> float:
    """P(wiki) with the resolved quality model."""
    return _default().score(text)
