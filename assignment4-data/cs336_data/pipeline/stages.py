"""Pipeline stages: small objects with `name` and `__call__(doc) -> doc | None`, counted by the runner.

Order (spec §1.11): language ID -> Gopher -> harmful content -> quality -> PII masking (the only modifying stage).
Each stage records its score in `doc.scores` so the output shards keep the evidence for every decision.
"""

from dataclasses import dataclass, field
from typing import Any

from cs336_data.config import FilterConfig
from cs336_data.gopher import gopher_reasons
from cs336_data.pii import mask_pii


@dataclass
class Doc:
    url: str
    id: str
    source: str  # input file the document came from
    text: str
    scores: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"url": self.url, "id": self.id, "source": self.source, "text": self.text, "scores": self.scores}


class LangIdStage:
    name = "langid"

    def __init__(self, language: str, threshold: float) -> None:
        from cs336_data.langid import LanguageIdentifier

        self.model = LanguageIdentifier()
        self.language, self.threshold = language, threshold

    def __call__(self, doc: Doc) -> Doc | None:
        lang, prob = self.model.predict(doc.text)[0]
        doc.scores["lang"], doc.scores["lang_prob"] = lang, round(prob, 4)
        return doc if lang == self.language and prob >= self.threshold else None


class GopherStage:
    name = "gopher"

    def __init__(self, config) -> None:
        self.config = config

    def __call__(self, doc: Doc) -> Doc | None:
        reasons = gopher_reasons(doc.text, self.config)
        doc.scores["gopher_reasons"] = reasons
        return None if reasons else doc


class HarmfulStage:
    name = "harmful"

    def __init__(self, nsfw_threshold: float, toxic_threshold: float) -> None:
        from cs336_data.harmful import default_backend

        self.nsfw, self.toxic = default_backend("nsfw"), default_backend("toxic")
        self.nsfw_threshold, self.toxic_threshold = nsfw_threshold, toxic_threshold

    def __call__(self, doc: Doc) -> Doc | None:
        p_nsfw = self.nsfw.positive_probability(doc.text)
        same_model = type(self.nsfw).__name__ == type(self.toxic).__name__ == "ProfanityCheck"  # one model for both
        p_toxic = p_nsfw if same_model else self.toxic.positive_probability(doc.text)
        doc.scores["p_nsfw"], doc.scores["p_toxic"] = round(p_nsfw, 4), round(p_toxic, 4)
        return None if p_nsfw > self.nsfw_threshold or p_toxic > self.toxic_threshold else doc


class QualityStage:
    name = "quality"

    def __init__(self, model_path: str, threshold: float) -> None:
        from cs336_data.quality.classifier import QualityClassifier

        self.model = QualityClassifier(model_path or None)
        self.threshold = threshold

    def __call__(self, doc: Doc) -> Doc | None:
        score = self.model.score(doc.text)
        doc.scores["p_wiki"] = round(score, 4)
        return doc if score >= self.threshold else None


class PiiStage:
    name = "pii"
    modifies = True

    def __call__(self, doc: Doc) -> Doc | None:
        doc.text, counts = mask_pii(doc.text)
        doc.scores["pii"] = {"emails": counts.emails, "phone_numbers": counts.phone_numbers, "ips": counts.ips}
        return doc


def build_stages(config: FilterConfig) -> list:
    """The enabled stages in pipeline order (models are loaded here, once per worker process)."""
    s = config.stages
    stages: list = []
    if s.langid:
        stages.append(LangIdStage(s.language, s.langid_threshold))
    if s.gopher:
        stages.append(GopherStage(config.gopher_config()))
    if s.harmful:
        stages.append(HarmfulStage(s.nsfw_threshold, s.toxic_threshold))
    if s.quality:
        stages.append(QualityStage(s.quality_model, s.quality_threshold))
    if s.pii:
        stages.append(PiiStage())
    return stages
