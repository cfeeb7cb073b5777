import pytest

from cs336_data.errors import ConfigError
from cs336_data.harmful import FastTextFile, ProfanityCheck, classify_with
from tests.adapters import run_classify_nsfw, run_classify_toxic_speech

BENIGN = "The garden club meets every Tuesday to share tips about growing tomatoes and roses."
ABUSIVE = "You are a stupid worthless idiot, shut up you pathetic moron."


def test_profanity_backend_matches_its_package():
    profanity_check = pytest.importorskip("profanity_check")
    backend = ProfanityCheck("toxic")
    for text in (BENIGN, ABUSIVE, "fuck this", "a\nb c", ""):
        assert backend.positive_probability(text) == pytest.approx(
            profanity_check.predict_prob([text.replace("\n", " ").strip()])[0], abs=1e-9
        )


def test_adapters_labels_and_scores():
    pytest.importorskip("profanity_check")
    label, score = run_classify_toxic_speech(ABUSIVE)
    assert label == "toxic" and 0.5 <= score <= 1.0
    label, score = run_classify_toxic_speech(BENIGN)
    assert label == "non-toxic" and 0.5 <= score <= 1.0
    label, score = run_classify_nsfw(BENIGN)
    assert label == "non-nsfw" and isinstance(score, float)


def test_fasttext_backend_with_dolma_label_names(tiny_harmful_model):
    backend = FastTextFile(tiny_harmful_model, "nsfw")
    label, score = classify_with(backend, "obscene lewd porn explicit")
    assert label == "nsfw" and score > 0.5
    label, score = classify_with(backend, "history of gardening and bread")
    assert label == "non-nsfw" and score > 0.5


def test_unknown_kind():
    with pytest.raises(ConfigError, match="kind"):
        ProfanityCheck("spam")


def test_dolma_file_in_asset_folder_wins_over_offline_backend(tiny_harmful_model, tmp_path, monkeypatch):
    import shutil

    from cs336_data.harmful import default_backend

    shutil.copyfile(tiny_harmful_model, tmp_path / "dolma_fasttext_nsfw_jigsaw_model.bin")
    monkeypatch.setenv("CS336_DATA_ASSETS", str(tmp_path))
    monkeypatch.delenv("CS336_NSFW_MODEL", raising=False)
    default_backend.cache_clear()
    try:
        backend = default_backend("nsfw")
        assert isinstance(backend, FastTextFile) and backend.model_path.parent == tmp_path
        assert default_backend("nsfw") is backend  # loaded once per process
        assert run_classify_nsfw("obscene lewd porn")[0] == "nsfw"
    finally:
        default_backend.cache_clear()
