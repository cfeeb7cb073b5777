"""Proof that filtering helps (issue §4): the same assignment 1 model, trained for the same number of tokens on the
filtered and on the unfiltered text of one noisy crawl, scored on held-out clean English.

    # CPU (this machine has FastWARC, Resiliparse, fastText): crawl -> filter -> BPE -> token files, ~2 min
    python benchmarks/filter_proof.py build --work-dir runs/proof --carry-dir ../.carry/a4proof
    # GPU (needs only cs336_basics, torch, numpy): both arms, several seeds, curves + final losses
    python3 assignment4-data/benchmarks/filter_proof.py train --carry-dir .carry/a4proof --out-dir $OUT --device cuda
    # anywhere with matplotlib: table + PNG from the results
    python benchmarks/filter_proof.py report --results results.json --out-dir benchmarks/reports/filter_proof
    # toy scale end to end on CPU (the test): build + train + report in seconds
    python benchmarks/filter_proof.py all --scale toy --work-dir /tmp/proof

`cs336-data proof ...` is the same command.

Data protocol. The offline English corpus (597 source documents) is shuffled with the seed and split by source
document into: `val` (~5% of the bytes; never in the crawl, never seen by the tokenizer or the quality model),
`reference` (~10%; trains the BPE tokenizer and is the quality classifier's positive class; not in the crawl) and
`crawl` (the rest). The crawl (WET files) holds every crawl-split document once as English web pages wrapped in
site navigation/footer lines (some with PII), plus near-duplicate copies (per-paragraph edits), exact mirrors,
foreign-language pages (paragraphs of the multilingual corpus that lid.176 labels as their locale's language, so
untranslated English chapters never leak in), generated boilerplate/spam pages, short snippets, "Read more..."
teasers and a few abusive pages. Arms: `filtered` = `cs336-data filter` output (langid, Gopher, harmful, quality,
PII masking, exact-line and MinHash dedup) tokenised by the pipeline's own tokenisation stage; `unfiltered` = every
WET record's text, in crawl order, no filter and no dedup. Both arms and the validation documents are tokenised by
one shared A1 tokenizer (trained on the reference split) with an EOS after every document, so validation losses
are per token of the same token sequence and directly comparable.

Training protocol. Identical A1 `TransformerLM` and optimizer config for both arms, trained by
`cs336_basics.train.train`; the budget is a number of optimizer steps x batch x context, the same for both arms. The
primary budget is the filtered arm's own size (about one pass: random windows, so each token is seen once in
expectation) and the unfiltered arm is larger, so neither arm repeats data; an optional second regime trains for
several times that budget (both arms then repeat: the filtered one more often, recorded). Curves are the trainer's
periodic evaluation (fixed random validation windows); the final number is a full pass over every non-overlapping
window of the validation tokens.
"""

import argparse
import gzip
import json
import math
import os
import random
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cs336_data.errors import DataError, InputFormatError

EOS = "<|endoftext|>"
DEFAULT_LOCALES = (
    "ar-MA ca-ES cs-CZ da-DK de-DE el-GR es-ES fa-IR fr-FR hr-HR id-ID it-IT ja-JP ko-KR nb-NO nl-NL pl-PL pt-BR "
    "ro-RO ru-RU sv-SE tr-TR vi-VN zh-CN zh-TW"
).split()
SITES = ("docs-hub", "linuxworld", "pyforum", "techdaily", "opensource-news", "sysadmin-blog", "devzone", "wikiish")
SAMPLE_PROMPTS = ["The package manager", "In Python, a list"]


# ---------------------------------------------------------------------------------------------------------------
# configuration


@dataclass(frozen=True, kw_only=True)
class BuildConfig:
    english_corpus: str
    multilingual_dir: str
    seed: int = 0
    max_english_docs: int = 0  # 0 = all 597 (toy scale: a few dozen)
    val_fraction: float = 0.05
    reference_fraction: float = 0.10
    locales: tuple[str, ...] = tuple(DEFAULT_LOCALES)
    num_files: int = 16
    page_words: tuple[int, int] = (200, 700)
    # extra pages per primary English page (the crawl's noise), by kind
    near_dup_rate: float = 0.20
    mirror_rate: float = 0.03
    foreign_rate: float = 0.9
    boilerplate_rate: float = 0.35
    short_rate: float = 0.15
    teaser_rate: float = 0.05
    toxic_rate: float = 0.02
    pii_rate: float = 0.10
    vocab_size: int = 8192
    num_workers: int = 2


@dataclass(frozen=True, kw_only=True)
class TrainSetup:
    context_length: int = 256
    d_model: int = 384
    num_layers: int = 4
    num_heads: int = 6
    d_ff: int = 1024
    batch_size: int = 32
    lr: float = 2e-3
    min_lr: float = 2e-4
    seeds: tuple[int, ...] = (0, 1, 2)
    epochs: tuple[float, ...] = (1.0,)  # budgets in units of the filtered arm's size; the first is the primary
    repeat_seeds: int = 1  # seeds for the budgets after the first
    max_steps: int = 0  # cap on steps per run (toy scale); 0 = none
    evals_per_run: int = 20
    eval_batches: int = 20
    device: str = "auto"
    time_budget_s: float = 0.0  # stop starting new runs after this many seconds; 0 = no limit


TOY_BUILD = {"max_english_docs": 30, "locales": ("de-DE", "ja-JP"), "num_files": 2, "vocab_size": 400}
TOY_TRAIN = {
    "context_length": 32,
    "d_model": 32,
    "num_layers": 1,
    "num_heads": 2,
    "d_ff": 64,
    "batch_size": 4,
    "seeds": (0,),
    "epochs": (1.0, 2.0),
    "max_steps": 4,
    "evals_per_run": 2,
    "eval_batches": 2,
    "device": "cpu",
}


# ---------------------------------------------------------------------------------------------------------------
# building the crawl


def split_english(docs: list[str], cfg: BuildConfig) -> dict[str, list[str]]:
    """Seeded split by source document into val / reference / crawl, by share of bytes."""
    order = list(range(len(docs)))
    random.Random(cfg.seed).shuffle(order)
    total = sum(len(d) for d in docs)
    out: dict[str, list[str]] = {"val": [], "reference": [], "crawl": []}
    used = 0
    for i in order:
        if used < cfg.val_fraction * total:
            out["val"].append(docs[i])
        elif used < (cfg.val_fraction + cfg.reference_fraction) * total:
            out["reference"].append(docs[i])
        else:
            out["crawl"].append(docs[i])
        used += len(docs[i])
    if not all(out.values()):
        raise InputFormatError(f"corpus too small to split into val/reference/crawl ({len(docs)} documents)")
    return out


def _paragraphs(doc: str) -> list[str]:
    return [p.strip("\n") for p in doc.split("\n\n") if p.strip()]


def english_pages(docs: list[str], rng: random.Random, page_words: tuple[int, int]) -> list[str]:
    """Cut each source document into web-page-sized runs of whole paragraphs (every paragraph used once)."""
    pages = []
    for doc in docs:
        current: list[str] = []
        want, words = rng.randint(*page_words), 0
        for para in _paragraphs(doc):
            current.append(para)
            words += len(para.split())
            if words >= want:
                pages.append("\n\n".join(current))
                current, want, words = [], rng.randint(*page_words), 0
        if current:
            if pages and words < 50:
                pages[-1] += "\n\n" + "\n\n".join(current)
            else:
                pages.append("\n\n".join(current))
    return pages


def foreign_pages(cfg: BuildConfig, rng: random.Random, limit: int) -> list[tuple[str, str]]:
    """(lid.176 label, page) from the multilingual corpus; only paragraphs identified as the locale's language."""
    from cs336_data.langid import identify_language
    from cs336_data.quality.training_set import read_eot_corpus

    per_locale = max(1, math.ceil(limit / max(len(cfg.locales), 1)))
    out: list[tuple[str, str]] = []
    for locale in cfg.locales:
        want = locale.split("-")[0]
        paragraphs = [
            p for d in read_eot_corpus(Path(cfg.multilingual_dir) / f"{locale}.txt.gz") for p in _paragraphs(d)
        ]
        paragraphs = [p for p in paragraphs if len(p) >= 200]
        rng.shuffle(paragraphs)
        kept = []
        for p in paragraphs:
            lang, prob = identify_language(p.replace("\n", " "))
            if lang == want and prob >= 0.8:
                kept.append(p)
            if len(kept) >= per_locale * 4:
                break
        for i in range(0, len(kept) - 1, 4):
            if sum(1 for lab, _ in out if lab == want) >= per_locale:
                break
            out.append((want, "\n\n".join(kept[i : i + rng.randint(2, 4)])))
    rng.shuffle(out)
    return out[:limit]


def _site_lines(site: str) -> tuple[str, str]:
    header = f"{site} | Home | Articles | Downloads | Forum | About | Log in | Register"
    footer = f"Copyright 2024 {site}. All rights reserved. Privacy policy | Terms of use | Contact | Sitemap"
    return header, footer


def _wrap(text: str, site: str) -> str:
    header, footer = _site_lines(site)
    return f"{header}\n{text}\n{footer}\nShare this page: Facebook | Twitter | Email\n"


def _near_dup(text: str, rng: random.Random) -> str:
    """Every paragraph edited a little (accents/punctuation, or a word swapped in some long ones), so exact-line
    dedup sees new lines and only MinHash (after its normalisation) recognises the document."""
    out = []
    for para in text.split("\n\n"):
        words = para.split(" ")
        if len(words) >= 30 and rng.random() < 0.15:
            words[rng.randrange(len(words))] = rng.choice(["indeed", "also", "really", "basically"])
            para = " ".join(words)
        else:
            variant = para.replace(", ", " , ").replace("e", "é", 2)
            para = variant if variant != para else para + " ."
        out.append(para)
    return "\n\n".join(out)


def _pii_line(rng: random.Random) -> str:
    email = f"{rng.choice(['admin', 'j.doe', 'support', 'webmaster'])}{rng.randint(1, 999)}@example.org"
    phone = f"({rng.randint(201, 989)}) {rng.randint(200, 999)}-{rng.randint(1000, 9999)}"
    ip = f"{rng.randint(11, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    return f"Questions? Write to {email} or call {phone}; our mirror runs at {ip}."


def build_pages(split: dict[str, list[str]], cfg: BuildConfig) -> list[dict]:
    """The crawl as a shuffled list of {url, kind, text, lang}."""
    from cs336_data.quality.boilerplate import boilerplate_document
    from cs336_data.synth.crawl import ABUSE

    rng = random.Random(cfg.seed + 1)
    primary = english_pages(split["crawl"], rng, cfg.page_words)
    pages: list[dict] = []
    for i, text in enumerate(primary):
        site = rng.choice(SITES)
        kind = "english"
        if rng.random() < cfg.pii_rate:
            paras = text.split("\n\n")
            paras.insert(rng.randint(0, len(paras)), _pii_line(rng))
            text, kind = "\n\n".join(paras), "english_pii"
        pages.append({"kind": kind, "text": _wrap(text, site), "lang": "en", "src": i})
    n = len(primary)

    def count(rate: float) -> int:
        return int(round(rate * n))

    for _ in range(count(cfg.near_dup_rate)):
        i = rng.randrange(n)
        pages.append({"kind": "near_dup", "text": _wrap(_near_dup(primary[i], rng), rng.choice(SITES)), "src": i})
    for _ in range(count(cfg.mirror_rate)):
        i = rng.randrange(n)
        pages.append({"kind": "mirror", "text": _wrap(primary[i], rng.choice(SITES)), "src": i})
    for lang, text in foreign_pages(cfg, rng, count(cfg.foreign_rate)):
        pages.append({"kind": "foreign", "text": text + "\n", "lang": lang})
    spam_rng = random.Random(cfg.seed + 10_000)  # not the quality model's negatives (those use the seed itself)
    for _ in range(count(cfg.boilerplate_rate)):
        pages.append({"kind": "boilerplate", "text": boilerplate_document(spam_rng, min_lines=8, max_lines=40) + "\n"})
    for _ in range(count(cfg.short_rate)):
        words = primary[rng.randrange(n)].split()
        start = rng.randrange(max(1, len(words) - 40))
        pages.append({"kind": "short", "text": " ".join(words[start : start + rng.randint(10, 40)]) + "\n"})
    for _ in range(count(cfg.teaser_rate)):
        words = primary[rng.randrange(n)].split()
        lines = [" ".join(words[j : j + 12]) + "..." for j in range(0, min(len(words), 180), 12)]
        pages.append({"kind": "teaser", "text": "\n".join(lines) + "\nRead more...\n"})
    for _ in range(count(cfg.toxic_rate)):
        words = primary[rng.randrange(n)].split()[:50]
        pages.append({"kind": "toxic", "text": " ".join(words) + "\n" + "\n".join(ABUSE * 2) + "\n"})
    rng.shuffle(pages)
    for j, page in enumerate(pages):
        page["url"] = f"http://{rng.choice(SITES)}.example/{page['kind']}/{j}"
    return pages


def write_wet_files(pages: list[dict], out_dir: Path, num_files: int) -> list[Path]:
    import io

    from warcio.warcwriter import WARCWriter

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    per_file = math.ceil(len(pages) / num_files)
    for f in range(num_files):
        chunk = pages[f * per_file : (f + 1) * per_file]
        if not chunk:
            break
        path = out_dir / f"proof-{f:05d}.warc.wet.gz"
        with open(path, "wb") as fh:
            writer = WARCWriter(fh, gzip=True)
            writer.write_record(writer.create_warc_record("", "warcinfo", payload=io.BytesIO(b"software: proof\r\n")))
            for page in chunk:
                headers = {"Content-Type": "text/plain"}
                rec = writer.create_warc_record(
                    page["url"],
                    "conversion",
                    payload=io.BytesIO(page["text"].encode("utf-8")),
                    warc_headers_dict=headers,
                )
                writer.write_record(rec)
        paths.append(path)
    return paths


# ---------------------------------------------------------------------------------------------------------------
# tokens


def _train_tokenizer(texts: list[str], vocab_size: int, out_dir: Path):
    from cs336_basics.bpe import train_bpe
    from cs336_basics.tokenizer import Tokenizer

    out_dir.mkdir(parents=True, exist_ok=True)
    corpus = out_dir / "bpe_corpus.txt"
    corpus.write_text(EOS.join(texts), encoding="utf-8")
    vocab, merges = train_bpe(corpus, vocab_size, [EOS], num_workers=1)
    corpus.unlink()
    tokenizer = Tokenizer(vocab, merges, special_tokens=[EOS])
    tokenizer.save(out_dir / "vocab.json", out_dir / "merges.txt")
    return tokenizer


def _bin_to_npy(bin_path: Path, npy_path: Path) -> int:
    tokens = np.fromfile(bin_path, dtype=np.uint16)
    np.save(npy_path, tokens)
    return int(tokens.size)


def _ngrams(text: str, n: int) -> set[str]:
    words = text.lower().split()
    return {" ".join(words[i : i + n]) for i in range(len(words) - n + 1)}


def contamination(val_docs: list[str], train_texts, n: int = 13) -> float:
    """Share of the validation word n-grams that occur in the training texts (0 = clean)."""
    val = set().union(*(_ngrams(d, n) for d in val_docs))
    if not val:
        return 0.0
    hit: set[str] = set()
    for text in train_texts:
        hit |= val & _ngrams(text, n)
    return len(hit) / len(val)


def build(cfg: BuildConfig, work_dir: Path, carry_dir: Path) -> dict:
    """Crawl -> filter -> shared tokenizer -> filtered.npy, unfiltered.npy, val.npy and manifest.json."""
    from cs336_data.config import build_config
    from cs336_data.pipeline import run_filter
    from cs336_data.pipeline.corpus import iter_final_texts
    from cs336_data.quality import build_training_set, prose_documents, read_eot_corpus, train_quality_classifier
    from cs336_data.tokenization import a1_encoder, tokenize_to_bin
    from cs336_data.warc import iter_wet_documents

    t0 = time.perf_counter()
    timings: dict[str, float] = {}

    def lap(name: str, since: list[float] = [t0]) -> None:  # noqa: B006 (a mutable clock on purpose)
        now = time.perf_counter()
        timings[name] = round(now - since[0], 2)
        since[0] = now

    docs = list(read_eot_corpus(cfg.english_corpus))
    if cfg.max_english_docs:
        docs = docs[: cfg.max_english_docs]
    split = split_english(docs, cfg)
    work_dir.mkdir(parents=True, exist_ok=True)
    carry_dir.mkdir(parents=True, exist_ok=True)

    tokenizer = _train_tokenizer(split["reference"], cfg.vocab_size, carry_dir / "tokenizer")
    lap("tokenizer_s")
    positives = prose_documents(split["reference"])
    qset = build_training_set(positives, None, work_dir / "quality" / "train.txt", seed=cfg.seed)
    quality_model = train_quality_classifier(qset.path, work_dir / "quality" / "quality.bin", seed=cfg.seed)
    lap("quality_model_s")

    pages = build_pages(split, cfg)
    wet_files = write_wet_files(pages, work_dir / "crawl", cfg.num_files)
    kind_of = {p["url"]: p["kind"] for p in pages}
    lap("crawl_s")

    vocab_path, merges_path = carry_dir / "tokenizer" / "vocab.json", carry_dir / "tokenizer" / "merges.txt"
    filter_dir = work_dir / "filter"
    fcfg = build_config(
        {
            "stages": {"quality_model": str(quality_model)},
            "tokenize": {
                "enable": True,
                "tokenizer": "a1",
                "vocab_path": str(vocab_path),
                "merges_path": str(merges_path),
            },
            "run": {
                "inputs": [str(work_dir / "crawl")],
                "out_dir": str(filter_dir),
                "num_workers": cfg.num_workers,
                "seed": cfg.seed,
                "progress": False,
            },
        }
    )
    report = run_filter(fcfg)
    lap("filter_s")

    encode, eos_id = a1_encoder(str(vocab_path), str(merges_path), EOS)
    unfiltered_kind_tokens: Counter = Counter()
    current = [""]

    def counting_encode(text: str) -> list[int]:
        ids = encode(text)
        unfiltered_kind_tokens[current[0]] += len(ids) + 1
        return ids

    def unfiltered_texts():
        for path in wet_files:
            for doc in iter_wet_documents(path):
                current[0] = kind_of.get(doc.url, "unknown")
                yield doc.text

    tokenize_to_bin(unfiltered_texts(), work_dir / "unfiltered.bin", counting_encode, eos_id)
    tokenize_to_bin(split["val"], work_dir / "val.bin", encode, eos_id)
    num = {
        "filtered": _bin_to_npy(Path(report["tokens"]["path"]), carry_dir / "filtered.npy"),
        "unfiltered": _bin_to_npy(work_dir / "unfiltered.bin", carry_dir / "unfiltered.npy"),
        "val": _bin_to_npy(work_dir / "val.bin", carry_dir / "val.npy"),
    }
    lap("tokenize_s")

    final_docs = [
        json.loads(line) for f in sorted((filter_dir / "final").glob("*.jsonl.gz")) for line in gzip.open(f, "rt")
    ]
    kept_by_kind = Counter(kind_of.get(d["url"], "unknown") for d in final_docs)
    survivors = {
        json.loads(line)["url"]
        for f in sorted((filter_dir / "shards").glob("*.jsonl.gz"))
        for line in gzip.open(f, "rt")
    }
    final_urls = {d["url"] for d in final_docs}
    fate_by_kind: dict[str, Counter] = {}
    for page in pages:
        fate = "kept" if page["url"] in final_urls else "dedup" if page["url"] in survivors else "per_doc_filters"
        fate_by_kind.setdefault(page["kind"], Counter())[fate] += 1
    filtered_texts = list(iter_final_texts(filter_dir, report["num_input_files"]))
    manifest = {
        "build_config": asdict(cfg),
        "splits": {k: {"docs": len(v), "bytes": sum(len(d.encode()) for d in v)} for k, v in split.items()},
        "tokenizer": {"vocab_size": len(tokenizer.vocab), "eos_id": eos_id, "trained_on": "reference split"},
        "quality_training_set": asdict(qset),
        "crawl": {
            "wet_files": len(wet_files),
            "pages": len(pages),
            "pages_by_kind": dict(sorted(Counter(p["kind"] for p in pages).items())),
            "foreign_pages_by_lang": dict(sorted(Counter(p["lang"] for p in pages if p["kind"] == "foreign").items())),
        },
        "filter": {
            "counters": report["counters"],
            "dropped_fraction_by_stage": report["dropped_fraction_by_stage"],
            "kept_pages_by_kind": dict(sorted(kept_by_kind.items())),
            "fate_by_kind": {k: dict(sorted(v.items())) for k, v in sorted(fate_by_kind.items())},
            "total_wall_s": report["total_wall_s"],
        },
        "tokens": num,
        "unfiltered_tokens_by_kind": dict(sorted(unfiltered_kind_tokens.items())),
        "val_13gram_contamination": {
            "filtered": round(contamination(split["val"], filtered_texts), 5),
            "unfiltered": round(contamination(split["val"], (p["text"] for p in pages)), 5),
            "unfiltered_by_kind": {
                kind: round(contamination(split["val"], (p["text"] for p in pages if p["kind"] == kind)), 5)
                for kind in sorted({p["kind"] for p in pages})
            },
        },
        "timings_s": timings,
    }
    lap("stats_s")
    manifest["timings_s"] = timings
    (carry_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


# ---------------------------------------------------------------------------------------------------------------
# training (GPU side: imports only cs336_basics, torch, numpy)


def plan_runs(manifest: dict, setup: TrainSetup) -> list[dict]:
    """The (regime, seed, arm) runs with their step counts: equal tokens for both arms within a regime."""
    tokens_per_step = setup.batch_size * setup.context_length
    filtered = manifest["tokens"]["filtered"]
    runs = []
    for r, epochs in enumerate(setup.epochs):
        steps = max(1, int(epochs * filtered) // tokens_per_step)
        if setup.max_steps:
            steps = min(steps, setup.max_steps)
        seeds = setup.seeds if r == 0 else setup.seeds[: setup.repeat_seeds]
        for seed in seeds:
            for arm in ("filtered", "unfiltered"):
                runs.append(
                    {
                        "regime": f"{epochs:g}x",
                        "arm": arm,
                        "seed": seed,
                        "steps": steps,
                        "tokens": steps * tokens_per_step,
                        "epochs_of_arm": round(steps * tokens_per_step / manifest["tokens"][arm], 3),
                    }
                )
    return runs


def _train_config(run: dict, setup: TrainSetup, carry_dir: Path, runs_dir: Path, vocab_size: int, device: str):
    from cs336_basics.config import config_from_dict

    cuda = device == "cuda"
    evals = max(1, run["steps"] // max(setup.evals_per_run, 1))
    return config_from_dict(
        {
            "model": {
                "vocab_size": vocab_size,
                "context_length": setup.context_length,
                "d_model": setup.d_model,
                "num_layers": setup.num_layers,
                "num_heads": setup.num_heads,
                "d_ff": setup.d_ff,
                "attn_backend": "torch",
                "vocab_pad_multiple": 64 if cuda else 1,
            },
            "optim": {
                "lr": setup.lr,
                "min_lr": setup.min_lr,
                "warmup_steps": max(1, run["steps"] // 20),
                "weight_decay": 0.1,
                "grad_clip": 1.0,
            },
            "data": {
                "train_path": str(carry_dir / f"{run['arm']}.npy"),
                "val_path": str(carry_dir / "val.npy"),
                "tokenizer_dir": str(carry_dir / "tokenizer") if run["seed"] == setup.seeds[0] else "",
                "batch_size": setup.batch_size,
            },
            "run": {
                "name": f"{run['regime']}-{run['arm']}-s{run['seed']}",
                "out_dir": str(runs_dir),
                "seed": run["seed"],
                "device": device,
                "num_steps": run["steps"],
                "dtype": "bf16" if cuda else "fp32",
                "compile": False,
                "log_every": evals,
                "eval_every": evals,
                "eval_batches": setup.eval_batches,
                "ckpt_every": 0,
                "progress": False,
                "num_threads": 0 if cuda else 1,
                "sample_prompts": SAMPLE_PROMPTS,
                "sample_max_new_tokens": 40 if cuda else 8,
                "sample_temperature": 0.8,
                "sample_top_p": 0.95,
            },
        }
    )


def full_val_loss(model_dir: Path, val_path: Path, context_length: int, device: str, batch: int = 64) -> float:
    """Mean next-token loss over every non-overlapping window of the validation tokens (fp32)."""
    import torch

    from cs336_basics.model import TransformerLM
    from cs336_basics.nn_utils import cross_entropy

    model = TransformerLM.from_pretrained(model_dir, device=device)
    model.eval()
    val = np.load(val_path)
    n = (len(val) - 1) // context_length
    x = torch.from_numpy(val[: n * context_length].astype(np.int64)).view(n, context_length)
    y = torch.from_numpy(val[1 : n * context_length + 1].astype(np.int64)).view(n, context_length)
    total = 0.0
    with torch.no_grad():
        for i in range(0, n, batch):
            xb, yb = x[i : i + batch].to(device), y[i : i + batch].to(device)
            total += float(cross_entropy(model(xb), yb)) * len(xb)
    return total / n


def train_arms(carry_dir: Path, out_dir: Path, setup: TrainSetup, runs_dir: Path | None = None) -> dict:
    """Every planned run through `cs336_basics.train.train`; results.json in `out_dir`, run folders (checkpoints,
    exported models) in `runs_dir` (default `out_dir/runs`)."""
    import torch

    from cs336_basics.metrics import read_metrics
    from cs336_basics.train import select_device, train

    manifest = json.loads((carry_dir / "manifest.json").read_text())
    device = select_device(setup.device).type
    runs = plan_runs(manifest, setup)
    started = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    results: list[dict] = []
    for run in runs:
        if setup.time_budget_s and time.perf_counter() - started > setup.time_budget_s:
            results.append({**run, "status": "skipped (time budget)"})
            continue
        cfg = _train_config(
            run, setup, carry_dir, runs_dir or out_dir / "runs", manifest["tokenizer"]["vocab_size"], device
        )
        t = time.perf_counter()
        result = train(cfg)
        wall = time.perf_counter() - t
        metrics = read_metrics(result.run_dir)
        curve = [[m["step"], m["step"] * cfg.tokens_per_step, m["eval/loss"]] for m in metrics if "eval/loss" in m]
        rates = [m["perf/tokens_per_s"] for m in metrics if "perf/tokens_per_s" in m]
        samples_path = result.run_dir / "samples.jsonl"
        row = {
            **run,
            "status": result.status,
            "steps_done": result.step,
            "wall_s": round(wall, 2),
            "median_tokens_per_s": float(np.median(rates)) if rates else None,
            "curve": curve,
            "final_eval_loss": curve[-1][2] if curve else None,
            "full_val_loss": full_val_loss(
                result.run_dir / "model", carry_dir / "val.npy", setup.context_length, device
            ),
            "samples": [json.loads(x) for x in samples_path.read_text().splitlines()] if samples_path.is_file() else [],
        }
        results.append(row)
        print(
            f"[proof] {row['regime']} {row['arm']:>10} seed {row['seed']}: {row['steps_done']} steps, "
            f"full val loss {row['full_val_loss']:.4f} ({wall:.1f} s)",
            flush=True,
        )
    out = {
        "device": torch.cuda.get_device_name() if device == "cuda" else device,
        "torch": torch.__version__,
        "date_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "setup": asdict(setup),
        "tokens_per_step": setup.batch_size * setup.context_length,
        "manifest": manifest,
        "runs": results,
        "summary": summarize(results),
        "total_wall_s": round(time.perf_counter() - started, 1),
    }
    (out_dir / "results.json").write_text(json.dumps(out, indent=2) + "\n")
    return out


def summarize(results: list[dict]) -> list[dict]:
    """Mean and standard deviation of the final losses per (regime, arm), over completed runs."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in results:
        if r.get("status") == "completed":
            groups.setdefault((r["regime"], r["arm"]), []).append(r)
    rows = []
    for (regime, arm), rs in groups.items():
        full = [r["full_val_loss"] for r in rs]
        rows.append(
            {
                "regime": regime,
                "arm": arm,
                "runs": len(rs),
                "tokens": rs[0]["tokens"],
                "epochs_of_arm": rs[0]["epochs_of_arm"],
                "full_val_loss_mean": float(np.mean(full)),
                "full_val_loss_std": float(np.std(full, ddof=1)) if len(full) > 1 else 0.0,
                "seeds": [r["seed"] for r in rs],
                "full_val_loss": full,
            }
        )
    return rows


# ---------------------------------------------------------------------------------------------------------------
# report


def report(results: dict, out_dir: Path) -> dict[str, Path]:
    """results.md (tables) and curves.png (validation loss vs tokens, both arms, every seed)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    lines = [
        f"# Filtering proof: {results['device']}, torch {results['torch']}, {results['date_utc']}",
        "",
        "| regime | arm | tokens | epochs of the arm's data | runs | held-out val loss (full pass), mean ± sd |",
        "|---|---|---|---|---|---|",
    ]
    for row in results["summary"]:
        lines.append(
            f"| {row['regime']} | {row['arm']} | {row['tokens']:,} | {row['epochs_of_arm']} | {row['runs']} | "
            f"{row['full_val_loss_mean']:.4f} ± {row['full_val_loss_std']:.4f} |"
        )
    lines += [
        "",
        "| regime | arm | seed | steps | status | trainer eval loss | full val loss | tokens/s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results["runs"]:
        if r.get("status") != "completed":
            lines.append(f"| {r['regime']} | {r['arm']} | {r['seed']} | {r['steps']} | {r.get('status')} | | | |")
            continue
        rate = f"{r['median_tokens_per_s']:,.0f}" if r.get("median_tokens_per_s") else ""
        lines.append(
            f"| {r['regime']} | {r['arm']} | {r['seed']} | {r['steps_done']} | {r['status']} | "
            f"{r['final_eval_loss']:.4f} | {r['full_val_loss']:.4f} | {rate} |"
        )
    md = out_dir / "results.md"
    md.write_text("\n".join(lines) + "\n")
    paths = {"markdown": md}
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return paths
    regimes = sorted({r["regime"] for r in results["runs"] if r.get("curve")}, key=lambda s: float(s[:-1]))
    fig, axes = plt.subplots(1, max(len(regimes), 1), figsize=(5.5 * max(len(regimes), 1), 4), squeeze=False)
    colors = {"filtered": "tab:blue", "unfiltered": "tab:red"}
    for ax, regime in zip(axes[0], regimes):
        seen = set()
        for r in results["runs"]:
            if r.get("regime") != regime or not r.get("curve"):
                continue
            xs = [c[1] / 1e6 for c in r["curve"]]
            ys = [c[2] for c in r["curve"]]
            label = r["arm"] if r["arm"] not in seen else None
            seen.add(r["arm"])
            ax.plot(xs, ys, color=colors[r["arm"]], alpha=0.8, lw=1.2, label=label)
        ax.set_title(f"budget = {regime} the filtered arm's tokens")
        ax.set_xlabel("training tokens (M)")
        ax.set_ylabel("held-out clean English loss")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    png = out_dir / "curves.png"
    fig.savefig(png, dpi=90)
    plt.close(fig)
    paths["png"] = png
    return paths


# ---------------------------------------------------------------------------------------------------------------
# command line


def _shared_default(relative: str) -> str:
    env = os.environ.get("CS336_SHARED_DATA")
    if env:
        return str(Path(env) / relative)
    for parent in [Path.cwd(), *Path.cwd().parents]:
        if (parent / "shared" / "data").is_dir():
            return str(parent / "shared" / "data" / relative)
    return f"../../shared/data/{relative}"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="phase", metavar="PHASE", required=True)
    b = sub.add_parser("build", help="CPU: crawl, filter, shared tokenizer, token files + manifest")
    t = sub.add_parser("train", help="train both arms (GPU) and write results.json (+ report when possible)")
    r = sub.add_parser("report", help="results.json -> results.md + curves.png")
    a = sub.add_parser("all", help="build + train + report (toy scale for tests)")
    for p in (b, a):
        p.add_argument("--work-dir", default="runs/proof", help="crawl, filter run, intermediate token files")
        p.add_argument("--english-corpus", default=_shared_default("corpora/english-docs.txt.gz"))
        p.add_argument("--multilingual-dir", default=_shared_default("corpora/multilingual"))
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--num-workers", type=int, default=2)
    for p in (b, t, a):
        p.add_argument(
            "--carry-dir", help="token files + tokenizer + manifest (default ../.carry/a4proof; toy: WORK_DIR/carry)"
        )
        p.add_argument("--scale", choices=["full", "toy"], default="full")
    for p in (t, a):
        p.add_argument("--out-dir", help="results.json and the report (default runs/proof/train; toy: WORK_DIR/train)")
        p.add_argument("--device", default=None, help="auto | cpu | cuda")
        p.add_argument("--epochs", type=float, nargs="+", help="budgets in units of the filtered arm's size")
        p.add_argument("--seeds", type=int, nargs="+")
        p.add_argument("--max-steps", type=int, help="cap on optimizer steps per run")
        p.add_argument("--time-budget-s", type=float, default=0.0, help="stop starting runs after this long")
        p.add_argument("--runs-dir", help="run folders with checkpoints (default: OUT_DIR/runs)")
    r.add_argument("--results", required=True)
    r.add_argument("--out-dir", required=True)


def _setup(args) -> TrainSetup:
    values: dict[str, Any] = dict(TOY_TRAIN) if args.scale == "toy" else {}
    for key, value in (("device", args.device), ("max_steps", args.max_steps), ("time_budget_s", args.time_budget_s)):
        if value:
            values[key] = value
    if args.epochs:
        values["epochs"] = tuple(args.epochs)
    if args.seeds:
        values["seeds"] = tuple(args.seeds)
    return TrainSetup(**values)


def _default_dirs(args) -> None:
    """Toy runs never write into the full-scale carry folder unless asked to."""
    toy_root = Path(getattr(args, "work_dir", None) or "runs/proof-toy")
    if getattr(args, "carry_dir", "") is None:
        args.carry_dir = str(toy_root / "carry") if args.scale == "toy" else "../.carry/a4proof"
    if getattr(args, "out_dir", "") is None:
        args.out_dir = str(toy_root / "train") if args.scale == "toy" else "runs/proof/train"


def run(args) -> int:
    _default_dirs(args)
    if args.phase == "report":
        results = json.loads(Path(args.results).read_text())
        print(json.dumps({k: str(v) for k, v in report(results, Path(args.out_dir)).items()}))
        return 0
    if args.phase in ("build", "all"):
        extra: dict[str, Any] = dict(TOY_BUILD) if args.scale == "toy" else {}
        cfg = BuildConfig(
            english_corpus=args.english_corpus,
            multilingual_dir=args.multilingual_dir,
            seed=args.seed,
            num_workers=args.num_workers,
            **extra,
        )
        for path in (cfg.english_corpus, cfg.multilingual_dir):
            if not Path(path).exists():
                raise InputFormatError(f"{path} not found (set --english-corpus/--multilingual-dir)")
        manifest = build(cfg, Path(args.work_dir), Path(args.carry_dir))
        print(json.dumps({k: manifest[k] for k in ("tokens", "crawl", "timings_s")}, indent=1))
    if args.phase in ("train", "all"):
        if not (Path(args.carry_dir) / "manifest.json").is_file():
            raise DataError(f"{args.carry_dir}/manifest.json not found: run the build phase first")
        runs_dir = Path(args.runs_dir) if args.runs_dir else None
        results = train_arms(Path(args.carry_dir), Path(args.out_dir), _setup(args), runs_dir)
        print(json.dumps(results["summary"], indent=1))
        print(json.dumps({k: str(v) for k, v in report(results, Path(args.out_dir)).items()}))
    return 0


def main(argv: list[str] | None = None) -> int:
    import sys

    parser = argparse.ArgumentParser(prog="filter_proof", description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
