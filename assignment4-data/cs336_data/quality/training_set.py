"""Building the quality classifier's training file (handout §2.7): `__label__wiki` vs `__label__cc` lines.

Positives, best source first:
- text of pages referenced from Wikipedia: WARC files the user fetched (`wget --warc-file` over a subsample of the
  outlink list), extracted with main-content extraction and cleaned with the language and Gopher filters;
- otherwise well-edited prose: a corpus of `<|endoftext|>`-separated documents (the offline English corpus),
  cut into paragraphs of >= `min_paragraph_words` words, `paragraphs_per_doc` paragraphs per training document.
Negatives: random crawl text from WET files, or the seeded boilerplate generator.
Evaluation pages (`hold_out`) must never be trained on: any training document containing one of their paragraphs
is dropped, and `build_training_set` reports how many were.
"""

import gzip
import os
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from cs336_data.errors import InputFormatError
from cs336_data.quality.boilerplate import generate_boilerplate_documents

EOT = "<|endoftext|>"
POSITIVE, NEGATIVE = "wiki", "cc"
HOLD_OUT_MIN_PARAGRAPH_CHARS = 40


def _open_text(path: Path):
    return gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else open(path, encoding="utf-8")


def read_eot_corpus(path: str | os.PathLike) -> Iterator[str]:
    """Documents of a file where each document is followed by a line `<|endoftext|>` (gzip or plain)."""
    path = Path(path)
    if not path.is_file():
        raise InputFormatError(f"corpus {path} does not exist")
    buf: list[str] = []
    with _open_text(path) as f:
        for line in f:
            if line.strip() == EOT:
                if buf:
                    yield "".join(buf)
                buf = []
            else:
                buf.append(line)
    if "".join(buf).strip():
        yield "".join(buf)


def prose_documents(corpus: Iterable[str], min_paragraph_words: int = 15, paragraphs_per_doc: int = 8) -> list[str]:
    """Group long paragraphs of a prose corpus into training documents."""
    paragraphs = [
        " ".join(p.split()) for doc in corpus for p in doc.split("\n\n") if len(p.split()) >= min_paragraph_words
    ]
    return [" ".join(paragraphs[i : i + paragraphs_per_doc]) for i in range(0, len(paragraphs), paragraphs_per_doc)]


def wet_documents(paths: Iterable[str | os.PathLike], limit: int, seed: int) -> list[str]:
    """A seeded random sample of `limit` WET documents (negatives from a real crawl)."""
    from cs336_data.warc import iter_wet_documents

    docs = [doc.text for path in sorted(map(str, paths)) for doc in iter_wet_documents(path)]
    rng = random.Random(seed)
    rng.shuffle(docs)
    return docs[:limit]


def warc_positive_documents(paths: Iterable[str | os.PathLike]) -> list[str]:
    """Main-content text of fetched Wikipedia-referenced pages, kept when English and Gopher-clean."""
    from cs336_data.extract import extract_text_from_html_bytes
    from cs336_data.gopher import gopher_quality_filter
    from cs336_data.langid import identify_language
    from cs336_data.warc import iter_html_responses

    out = []
    for path in sorted(map(str, paths)):
        for record in iter_html_responses(path):
            text = extract_text_from_html_bytes(record.body, record.http_charset, main_content=True) or ""
            lang, score = identify_language(text)
            if lang == "en" and score >= 0.5 and gopher_quality_filter(text):
                out.append(text)
    return out


def _paragraph_keys(text: str) -> set[str]:
    return {" ".join(p.split()) for p in text.splitlines() if len(p.strip()) >= HOLD_OUT_MIN_PARAGRAPH_CHARS}


@dataclass(frozen=True)
class TrainingSetReport:
    num_positive: int
    num_negative: int
    num_held_out_dropped: int
    path: str


def build_training_set(
    positives: list[str],
    negatives: list[str] | None,
    out_path: str | os.PathLike,
    *,
    hold_out: Iterable[str] = (),
    seed: int = 0,
    max_words: int = 400,
) -> TrainingSetReport:
    """Write a shuffled fastText training file; negatives default to as many generated boilerplate documents."""
    if not positives:
        raise InputFormatError("the quality training set needs at least one positive document")
    negatives = negatives if negatives is not None else generate_boilerplate_documents(len(positives), seed)
    held = set().union(*(_paragraph_keys(t) for t in hold_out)) if hold_out else set()
    rows, dropped = [], 0
    for label, docs in ((POSITIVE, positives), (NEGATIVE, negatives)):
        for doc in docs:
            flat = " ".join(doc.split())
            if held and any(key in flat for key in held):
                dropped += 1
                continue
            rows.append(f"__label__{label} {' '.join(flat.split()[:max_words])}")
    random.Random(seed).shuffle(rows)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    num_pos = sum(r.startswith(f"__label__{POSITIVE} ") for r in rows)
    return TrainingSetReport(num_pos, len(rows) - num_pos, dropped, str(out_path))
