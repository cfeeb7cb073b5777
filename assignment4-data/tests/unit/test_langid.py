import pytest

from cs336_data.assets import packaged_lid_model, resolve_asset
from cs336_data.errors import AssetNotFoundError
from cs336_data.langid import LanguageIdentifier
from tests.adapters import run_identify_language

SAMPLES = {
    "en": "The quick brown fox jumps over the lazy dog while the farmer watches from the porch.",
    "de": "Der schnelle braune Fuchs springt über den faulen Hund, während der Bauer zuschaut.",
    "fr": "Le renard brun rapide saute par-dessus le chien paresseux pendant que le fermier regarde.",
    "zh": "这是一篇关于中国历史和文化的文章，我们将在这里讨论许多重要的历史事件和人物。",
    "ja": "素早い茶色の狐が怠け者の犬を飛び越え、農夫はそれを見ている。",
}


@pytest.mark.parametrize("lang", sorted(SAMPLES))
def test_identifies_languages(lang):
    label, score = run_identify_language(SAMPLES[lang])
    assert label == lang
    assert isinstance(score, float) and 0.5 < score <= 1.0


def test_newlines_and_empty_text():
    label, _ = run_identify_language(SAMPLES["en"].replace(" ", "\n"))
    assert label == "en"
    assert run_identify_language("  \n ") == ("und", 0.0)


def test_top_k_sorted_and_bounded():
    top = LanguageIdentifier().predict(SAMPLES["de"], k=3)
    assert len(top) == 3
    assert [p for _, p in top] == sorted((p for _, p in top), reverse=True)
    assert all(0.0 <= p <= 1.0 for _, p in top)


def test_packaged_model_is_the_fallback(monkeypatch, tmp_path):
    monkeypatch.delenv("CS336_LID_MODEL", raising=False)
    monkeypatch.setenv("CS336_DATA_ASSETS", str(tmp_path))
    assert packaged_lid_model() is not None
    found = resolve_asset("lid")
    assert found.name in ("lid.176.bin", "lid.176.ftz")


def test_env_override_pointing_nowhere_is_an_error(monkeypatch, tmp_path):
    monkeypatch.setenv("CS336_LID_MODEL", str(tmp_path / "missing.bin"))
    with pytest.raises(AssetNotFoundError, match="CS336_LID_MODEL"):
        resolve_asset("lid")
