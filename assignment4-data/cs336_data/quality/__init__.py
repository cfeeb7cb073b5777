"""Quality classifier: training-set construction, training, scoring."""

from cs336_data.quality.classifier import (
    QualityClassifier,
    QualityTrainParams,
    classify_quality,
    quality_score,
    train_quality_classifier,
)
from cs336_data.quality.training_set import build_training_set, prose_documents, read_eot_corpus

__all__ = [
    "QualityClassifier",
    "QualityTrainParams",
    "build_training_set",
    "classify_quality",
    "prose_documents",
    "quality_score",
    "read_eot_corpus",
    "train_quality_classifier",
]
