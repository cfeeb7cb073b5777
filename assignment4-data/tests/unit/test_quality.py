import random

import pytest

from cs336_data.errors import InputFormatError
from cs336_data.quality import QualityClassifier, build_training_set, train_quality_classifier
from cs336_data.quality.boilerplate import boilerplate_document


def test_separates_prose_from_boilerplate(tiny_quality_model, prose_paragraphs):
    clf = QualityClassifier(tiny_quality_model)
    rng = random.Random(123)
    prose = " ".join(prose_paragraphs[-5:])  # tail: not in the training slice of the fixture when corpus is large
    label, score = clf.classify(prose)
    assert label == "wiki" and score > 0.5
    label, score = clf.classify(boilerplate_document(rng))
    assert label == "cc" and score > 0.5
    assert 0.0 <= clf.score(prose) <= 1.0


def test_training_is_deterministic(tmp_path, prose_paragraphs):
    from cs336_data.quality.boilerplate import generate_boilerplate_documents

    report = build_training_set(prose_paragraphs[:300], generate_boilerplate_documents(300, 1), tmp_path / "t.txt")
    a = QualityClassifier(train_quality_classifier(report.path, tmp_path / "a.bin", epoch=2, bucket=5000, dim=8))
    b = QualityClassifier(train_quality_classifier(report.path, tmp_path / "b.bin", epoch=2, bucket=5000, dim=8))
    for text in prose_paragraphs[300:320]:
        assert a.score(text) == b.score(text)


def test_quantised_model_loads(tmp_path, prose_paragraphs):
    from cs336_data.quality.boilerplate import generate_boilerplate_documents

    report = build_training_set(prose_paragraphs[:300], generate_boilerplate_documents(300, 1), tmp_path / "t.txt")
    path = train_quality_classifier(report.path, tmp_path / "q.bin", quantize=True, epoch=2, bucket=5000, dim=8)
    assert path.suffix == ".ftz"
    assert QualityClassifier(path).classify(prose_paragraphs[400])[0] in ("wiki", "cc")


def test_held_out_pages_are_removed(tmp_path):
    held = "This paragraph belongs to an evaluation page and must never be trained on, not even once."
    positives = [f"intro text {held} outro", "an unrelated positive document with enough words in it to count"]
    report = build_training_set(positives, ["nav home login"], tmp_path / "t.txt", hold_out=[held])
    assert report.num_held_out_dropped == 1
    assert held not in (tmp_path / "t.txt").read_text()


def test_needs_positives(tmp_path):
    with pytest.raises(InputFormatError):
        build_training_set([], None, tmp_path / "t.txt")


@pytest.mark.needs_data
@pytest.mark.slow
def test_reference_pages_and_no_leak(corpus_quality_model, shared_data):
    import os

    from tests.adapters import run_classify_quality

    os.environ["CS336_QUALITY_MODEL"] = str(corpus_quality_model)
    try:
        import cs336_data.quality.classifier as classifier

        classifier._DEFAULT = None
        high = (shared_data / "web" / "high_quality_wiki_reference.txt").read_text()
        low = (shared_data / "web" / "low_quality_cc.txt").read_text()
        assert run_classify_quality(high)[0] == "wiki"
        assert run_classify_quality(low)[0] == "cc"
    finally:
        os.environ.pop("CS336_QUALITY_MODEL")
        classifier._DEFAULT = None
    train_text = (corpus_quality_model.parent / "train.txt").read_text()
    for page in (high, low):
        for para in page.splitlines():
            if len(para.strip()) >= 40:
                assert " ".join(para.split()) not in train_text


def test_positives_from_fetched_warc(tmp_path, prose_paragraphs):
    from cs336_data.quality.training_set import warc_positive_documents
    from tests.conftest import write_warc

    english = (
        "<html><body><article>" + "".join(f"<p>{p}</p>" for p in prose_paragraphs[:6]) + "</article></body></html>"
    )
    german = (
        "<html><body><p>" + " ".join(["Das ist ein kurzer deutscher Satz über das Wetter."] * 12) + "</p></body></html>"
    )
    write_warc(
        tmp_path / "wiki.warc.gz",
        [
            ("http://en.example/a", "response", english.encode(), "text/html"),
            ("http://de.example/b", "response", german.encode(), "text/html"),
            ("http://en.example/short", "response", b"<p>Too short.</p>", "text/html"),
        ],
    )
    docs = warc_positive_documents([tmp_path / "wiki.warc.gz"])
    assert len(docs) == 1 and prose_paragraphs[0][:40] in " ".join(docs[0].split())
