"""A stricter threshold keeps a subset, for every thresholded pipeline stage."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cs336_data.pipeline.stages import Doc, HarmfulStage, LangIdStage, QualityStage

WORDS = "the cat sat on mat der Hund ist müde le chat dort idiot stupid buy cheap now home login garden history".split()
texts = st.lists(st.sampled_from(WORDS), min_size=0, max_size=40).map(" ".join)
thresholds = st.tuples(st.floats(0.0, 1.0), st.floats(0.0, 1.0)).map(sorted)


def kept(stage, text: str) -> bool:
    return stage(Doc("u", "i", "s", text)) is not None


@settings(max_examples=60, deadline=None)
@given(texts, thresholds)
def test_langid(text, pair):
    loose, strict = LangIdStage("en", pair[0]), LangIdStage("en", pair[1])
    if kept(strict, text):
        assert kept(loose, text)


@settings(max_examples=60, deadline=None)
@given(texts, thresholds)
def test_quality(tiny_quality_model, text, pair):
    loose, strict = QualityStage(str(tiny_quality_model), pair[0]), QualityStage(str(tiny_quality_model), pair[1])
    if kept(strict, text):
        assert kept(loose, text)


@settings(max_examples=60, deadline=None)
@given(texts, thresholds)
def test_harmful(text, pair):
    pytest.importorskip("profanity_check")
    # for harmful content a *lower* drop threshold is stricter
    strict, loose = HarmfulStage(pair[0], pair[0]), HarmfulStage(pair[1], pair[1])
    if kept(strict, text):
        assert kept(loose, text)
