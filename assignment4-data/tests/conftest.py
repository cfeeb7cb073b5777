"""Shared fixtures: tiny fastText models trained in-process, warcio-written WARC/WET files, the synthetic crawl."""

import importlib
import inspect
import io
import json
import random
import warnings
from pathlib import Path

import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from cs336_data.quality.boilerplate import generate_boilerplate_documents

STDLIB_MODULES = (
    "argparse asyncio ast base64 bisect calendar codecs collections concurrent.futures configparser contextlib copy "
    "csv dataclasses datetime decimal difflib dis doctest email enum fnmatch fractions ftplib functools gettext glob "
    "gzip hashlib heapq hmac html.parser http.client imaplib importlib inspect io ipaddress itertools json locale "
    "logging lzma mailbox multiprocessing numbers operator optparse os pathlib pdb pickle pkgutil platform poplib "
    "pprint queue random re sched secrets selectors shlex shutil signal smtplib socket sqlite3 ssl statistics string "
    "struct subprocess tarfile tempfile textwrap threading timeit tokenize traceback typing unittest urllib.request "
    "uuid warnings weakref xml.etree.ElementTree xmlrpc.client zipfile"
).split()


def stdlib_prose(min_words: int = 15) -> list[str]:
    """Hermetic English prose: docstrings of a fixed list of standard-library modules and their members."""
    seen, out = set(), []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        modules = [importlib.import_module(name) for name in STDLIB_MODULES]
        return _collect(modules, seen, out, min_words)


def _collect(modules, seen, out, min_words):
    for module in modules:
        for obj in [module, *vars(module).values()] if hasattr(module, "__dict__") else []:
            doc = inspect.getdoc(obj) if callable(obj) or inspect.ismodule(obj) else None
            if not doc or doc in seen:
                continue
            seen.add(doc)
            for para in doc.split("\n\n"):
                words = para.split()
                if len(words) >= min_words and sum(w.isalpha() for w in words) / len(words) > 0.8:
                    out.append(" ".join(words))
    return sorted(out)


@pytest.fixture(scope="session")
def prose_paragraphs() -> list[str]:
    return stdlib_prose()


@pytest.fixture(scope="session")
def tiny_quality_model(tmp_path_factory, prose_paragraphs) -> Path:
    """A quality classifier trained on stdlib docstrings (wiki) vs generated boilerplate (cc), in about a second."""
    from cs336_data.quality.classifier import train_quality_classifier
    from cs336_data.quality.training_set import build_training_set

    positives = [" ".join(prose_paragraphs[i : i + 3]) for i in range(0, min(len(prose_paragraphs), 3000), 3)]
    out = tmp_path_factory.mktemp("quality")
    report = build_training_set(positives, generate_boilerplate_documents(len(positives), 0), out / "train.txt")
    return train_quality_classifier(report.path, out / "quality.bin", epoch=5, bucket=20_000, dim=16)


@pytest.fixture(scope="session")
def tiny_harmful_model(tmp_path_factory) -> Path:
    """A fastText model with Dolma's NSFW label names, for backend plumbing tests."""
    from cs336_data.fasttext_model import import_fasttext

    rng = random.Random(0)
    bad = ["filthy explicit smut", "obscene lewd porn", "nude xxx explicit"]
    good = ["gardening tips for spring", "history of the roman empire", "how to bake bread at home"]
    lines = [f"__label__nsfw {rng.choice(bad)} {rng.choice(bad)}" for _ in range(200)]
    lines += [f"__label__non-nsfw {rng.choice(good)} {rng.choice(good)}" for _ in range(200)]
    rng.shuffle(lines)
    out = tmp_path_factory.mktemp("harmful")
    (out / "train.txt").write_text("\n".join(lines) + "\n")
    model = import_fasttext().train_supervised(str(out / "train.txt"), epoch=10, dim=8, bucket=1000, thread=1, seed=0)
    model.save_model(str(out / "nsfw.bin"))
    return out / "nsfw.bin"


def write_warc(path: Path, records: list[tuple[str, str, bytes, str | None]], gzip: bool = True) -> None:
    """records: (url, record type, payload, HTTP content type or None for non-HTTP records)."""
    with open(path, "wb") as f:
        writer = WARCWriter(f, gzip=gzip)
        writer.write_record(writer.create_warc_record("", "warcinfo", payload=io.BytesIO(b"software: test\r\n")))
        for url, rtype, payload, ctype in records:
            http = StatusAndHeaders("200 OK", [("Content-Type", ctype)], protocol="HTTP/1.1") if ctype else None
            if rtype == "request":
                http = StatusAndHeaders("GET / HTTP/1.1", [("Host", "a")], is_http_request=True)
            headers = {"WARC-Identified-Content-Language": "eng"} if rtype == "conversion" else None
            rec = writer.create_warc_record(
                url, rtype, payload=io.BytesIO(payload), http_headers=http, warc_headers_dict=headers
            )
            writer.write_record(rec)


@pytest.fixture(scope="session")
def synth_crawl(tmp_path_factory, shared_data) -> tuple[Path, list[dict]]:
    from cs336_data.synth import SynthConfig, generate_crawl

    out = tmp_path_factory.mktemp("synth")
    cfg = SynthConfig(
        english_corpus=str(shared_data / "corpora" / "english-docs.txt.gz"),
        multilingual_dir=str(shared_data / "corpora" / "multilingual"),
        num_files=3,
        docs_per_file=30,
        seed=0,
    )
    generate_crawl(cfg, out)
    import gzip

    with gzip.open(out / "truth.jsonl.gz", "rt") as f:
        truth = [json.loads(line) for line in f]
    return out, truth


@pytest.fixture(scope="session")
def corpus_quality_model(tmp_path_factory, shared_data) -> Path:
    """The quality classifier as `train-quality` builds it: offline English corpus vs generated boilerplate."""
    from cs336_data.quality import build_training_set, prose_documents, read_eot_corpus, train_quality_classifier

    positives = prose_documents(read_eot_corpus(shared_data / "corpora" / "english-docs.txt.gz"))
    hold_out = [
        (shared_data / "web" / n).read_text() for n in ("high_quality_wiki_reference.txt", "low_quality_cc.txt")
    ]
    out = tmp_path_factory.mktemp("corpus_quality")
    report = build_training_set(positives, None, out / "train.txt", hold_out=hold_out)
    return train_quality_classifier(report.path, out / "quality.bin")
