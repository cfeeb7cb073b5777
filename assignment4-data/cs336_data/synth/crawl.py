"""A synthetic Common Crawl: WET files (and matching WARC files) whose documents carry their expected fate.

    cs336-data synth --out-dir runs/synth --num-files 5 --docs-per-file 40

Document kinds, each designed to be decided by exactly one stage (the ground truth in `truth.jsonl`):
- `good`: English prose from the offline corpus, with a shared navigation header and footer line (exact-line dedup
  removes them) -> kept;
- `pii`: good prose with emails, US phones and IPv4 addresses inserted, plus look-alikes (ISBNs, versions, prices,
  dates) that must survive -> kept, with known mask counts;
- `near_dup`: a copy of an earlier good document with case/punctuation/accent edits and one changed word -> removed
  by MinHash dedup (one survivor per group);
- `foreign`: a paragraph in another language from the multilingual corpus, confirmed by lid.176 -> langid;
- `short`: one English sentence group under 50 words -> gopher; `ellipsis`: prose whose lines end in "..." -> gopher;
- `boilerplate`: web chrome and spam -> quality; `toxic`: prose with abusive lines -> harmful.
Bad records (empty, binary, undecodable) and one truncated file exercise error handling. WARC files hold the same
documents as HTML in mixed encodings (UTF-8, cp1252, Shift-JIS, UTF-16) with `warcinfo`/`request` records and
non-HTML responses the reader must skip.
"""

import gzip
import io
import json
import random
import uuid
from dataclasses import dataclass
from pathlib import Path

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from cs336_data.quality.boilerplate import boilerplate_document
from cs336_data.quality.training_set import prose_documents, read_eot_corpus

NAV_HEADER = "Home | News | Sport | Weather | Contact us | Sign in"
FOOTER = "Copyright © 2024 Example Media Group. All rights reserved. Privacy | Terms | Cookies"
FOREIGN_LOCALES = ("de-DE", "fr-FR", "es-ES", "ja-JP", "ru-RU", "zh-CN", "it-IT", "pt-BR", "nl-NL", "pl-PL")
ABUSE = (
    "You are a stupid worthless idiot and everyone hates you.",
    "Shut up you pathetic moron, nobody cares about your garbage.",
    "What a dumb ugly loser, go away you piece of trash.",
)
KINDS = ("good", "pii", "near_dup", "foreign", "short", "ellipsis", "boilerplate", "toxic")
KIND_WEIGHTS = (30, 8, 8, 14, 8, 6, 14, 6)
FATE = {
    "good": "kept",
    "pii": "kept",
    "near_dup": "minhash",
    "foreign": "langid",
    "short": "gopher",
    "ellipsis": "gopher",
    "boilerplate": "quality",
    "toxic": "harmful",
}


@dataclass(frozen=True, kw_only=True)
class SynthConfig:
    english_corpus: str
    multilingual_dir: str
    num_files: int = 5
    docs_per_file: int = 40
    seed: int = 0
    include_bad_records: bool = True
    include_truncated_file: bool = True


def _pii_text(rng: random.Random, prose: str) -> tuple[str, dict[str, int]]:
    user = rng.choice(["alice", "bob.smith", "j_doe", "info"])
    email = f"{user}{rng.randint(1, 99)}@example{rng.randint(1, 9)}.com"
    phone = rng.choice(["(555) 123-4567", "555-987-6543", "+1 555 222 3333", "5551234567", "(555)-765-4321"])
    ip = f"{rng.randint(11, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    # look-alikes that must survive masking, on their own line (unique per document, so exact-line dedup keeps it;
    # the masked PII line itself becomes identical across documents and is removed there)
    lookalikes = (
        f"ISBN 978-0-306-40615-7, release v3.10.0.1, price ${rng.randint(1000, 999_999):,}.56, date 2024-01-15."
    )
    line = f"Contact {email} or call {phone}. The server is at {ip}."
    return f"{prose}\n{line}\n{lookalikes}\n", {"emails": 1, "phone_numbers": 1, "ips": 1}


def _perturb(rng: random.Random, text: str) -> str:
    words = text.split(" ")
    i = rng.randrange(len(words))
    words[i] = rng.choice(["Zanzibar", "2019", "Gödel", "quokka"])
    out = " ".join(words)
    return out.replace(", ", " , ").replace("e", "é", 3) if rng.random() < 0.5 else out.upper()[:20] + out[20:]


class _Sources:
    def __init__(self, cfg: SynthConfig, rng: random.Random) -> None:
        docs = list(read_eot_corpus(cfg.english_corpus))
        self.prose = [d for d in prose_documents(docs, paragraphs_per_doc=3) if 150 <= len(d.split()) <= 900]
        rng.shuffle(self.prose)
        self.foreign = self._foreign_paragraphs(cfg.multilingual_dir, rng)

    def next_prose(self) -> str:
        """The next corpus chunk that is clearly prose (no code): >= 95% alphabetic words, lid.176 en >= 0.9."""
        from cs336_data.gopher import gopher_stats
        from cs336_data.langid import identify_language

        while True:
            text = self.prose.pop()
            if gopher_stats(text).alpha_word_fraction >= 0.95 and ">>>" not in text:
                lang, prob = identify_language(text)
                if lang == "en" and prob >= 0.9:
                    return text

    @staticmethod
    def _foreign_paragraphs(folder: str, rng: random.Random) -> list[tuple[str, str]]:
        from cs336_data.langid import identify_language

        out = []
        for locale in FOREIGN_LOCALES:
            path = Path(folder) / f"{locale}.txt.gz"
            paragraphs = [p for d in read_eot_corpus(path) for p in d.split("\n\n") if len(p.split()) >= 20]
            rng.shuffle(paragraphs)
            want = locale.split("-")[0]
            found = [(want, p) for p in paragraphs[:200] if identify_language(p) == (want, identify_language(p)[1])]
            out.extend((lang, p) for lang, p in found[:30] if identify_language(p)[1] >= 0.9)
        rng.shuffle(out)
        return out


def _make_doc(kind: str, rng: random.Random, src: _Sources, good_so_far: list[str]) -> tuple[str, dict]:
    truth: dict = {"kind": kind, "fate": FATE[kind]}
    if kind == "near_dup" and not good_so_far:
        kind, truth = "good", {"kind": "good", "fate": "kept"}
    if kind == "good":
        body = src.next_prose()
        good_so_far.append(body)
        return f"{NAV_HEADER}\n{body}\n{FOOTER}\n", truth
    if kind == "pii":
        text, counts = _pii_text(rng, src.next_prose())
        truth["pii"] = counts
        return text, truth
    if kind == "near_dup":
        original = rng.choice(good_so_far)
        truth["duplicate_of_text_sha"] = hash_text(original)
        return f"{NAV_HEADER}\n{_perturb(rng, original)}\n{FOOTER}\n", truth
    if kind == "foreign":
        lang, text = src.foreign.pop()
        truth["lang"] = lang
        return text + "\n", truth
    if kind == "short":
        return " ".join(src.next_prose().split()[:30]) + "\n", truth
    if kind == "ellipsis":
        words = src.next_prose().split()
        return "\n".join(" ".join(words[i : i + 12]) + "..." for i in range(0, 240, 12)) + "\n", truth
    if kind == "boilerplate":
        # only alphabetic tokens, so that the quality stage (not Gopher's alphabetic-word rule) is what rejects it
        lines = boilerplate_document(rng, min_lines=12, max_lines=25).splitlines()
        return "\n".join(" ".join(w for w in ln.split() if w.isalpha()) for ln in lines) + "\n", truth
    words = src.next_prose().split()[:60]
    return " ".join(words) + "\n" + "\n".join(ABUSE * 2) + "\n", truth


def hash_text(text: str) -> str:
    import hashlib

    return hashlib.sha1(text.encode()).hexdigest()[:16]


def _record_id() -> str:
    return f"<urn:uuid:{uuid.UUID(int=random.getrandbits(128))}>"


def _html(text: str, charset: str | None) -> str:
    meta = f'<meta charset="{charset}">' if charset else ""
    paragraphs = "".join(f"<p>{line}</p>" for line in text.splitlines() if line.strip())
    return f"<html><head>{meta}<title>page</title></head><body>{paragraphs}</body></html>"


def _write_wet(path: Path, docs: list[tuple[str, str, bytes]], bad_records: bool) -> None:
    with open(path, "wb") as f:
        writer = WARCWriter(f, gzip=True)
        writer.write_record(writer.create_warc_record("", "warcinfo", payload=io.BytesIO(b"software: synth\r\n")))
        for url, rid, payload in docs:
            headers = {"WARC-Refers-To": rid, "WARC-Identified-Content-Language": "eng", "Content-Type": "text/plain"}
            rec = writer.create_warc_record(url, "conversion", payload=io.BytesIO(payload), warc_headers_dict=headers)
            writer.write_record(rec)
        if bad_records:
            for url, payload in (
                ("http://bad.example/empty", b""),
                ("http://bad.example/binary", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))),
                ("http://bad.example/latin1", "Caf\u00e9 cr\u00e8me br\u00fbl\u00e9e".encode("latin-1") * 20),
            ):
                writer.write_record(writer.create_warc_record(url, "conversion", payload=io.BytesIO(payload)))


def _write_warc(path: Path, docs: list[tuple[str, str, str]], rng: random.Random) -> None:
    encodings = [("utf-8", "utf-8"), ("cp1252", "windows-1252"), ("shift_jis", "shift_jis"), ("utf-16-le", None)]
    with open(path, "wb") as f:
        writer = WARCWriter(f, gzip=True)
        writer.write_record(writer.create_warc_record("", "warcinfo", payload=io.BytesIO(b"software: synth\r\n")))
        for url, rid, text in docs:
            req = StatusAndHeaders("GET / HTTP/1.1", [("Host", "example.com")], is_http_request=True)
            writer.write_record(writer.create_warc_record(url, "request", payload=io.BytesIO(b""), http_headers=req))
            codec, label = rng.choice(encodings)
            body = _html(text, label if rng.random() < 0.5 else None).encode(codec, errors="xmlcharrefreplace")
            ctype = f"text/html; charset={label}" if label and rng.random() < 0.5 else "text/html"
            http = StatusAndHeaders("200 OK", [("Content-Type", ctype)], protocol="HTTP/1.1")
            rec = writer.create_warc_record(
                url, "response", payload=io.BytesIO(body), http_headers=http, warc_headers_dict={"WARC-Record-ID": rid}
            )
            writer.write_record(rec)
        png = StatusAndHeaders("200 OK", [("Content-Type", "image/png")], protocol="HTTP/1.1")
        writer.write_record(
            writer.create_warc_record(
                "http://x.example/a.png", "response", payload=io.BytesIO(b"\x89PNG..."), http_headers=png
            )
        )


def generate_crawl(cfg: SynthConfig, out_dir: str | Path) -> dict:
    """Write `wet/*.warc.wet.gz`, `warc/*.warc.gz` and `truth.jsonl` under `out_dir`; return a summary."""
    rng = random.Random(cfg.seed)
    random.seed(cfg.seed)  # record ids
    src = _Sources(cfg, rng)
    out = Path(out_dir)
    (out / "wet").mkdir(parents=True, exist_ok=True)
    (out / "warc").mkdir(parents=True, exist_ok=True)
    truth_rows, good_so_far = [], []
    for file_index in range(cfg.num_files):
        wet_docs, warc_docs = [], []
        for doc_index in range(cfg.docs_per_file):
            kind = rng.choices(KINDS, KIND_WEIGHTS)[0]
            text, truth = _make_doc(kind, rng, src, good_so_far)
            url = f"http://site{rng.randint(1, 50)}.example/{file_index}/{doc_index}"
            rid = _record_id()
            wet_docs.append((url, rid, text.encode("utf-8")))
            warc_docs.append((url, rid, text))
            truth_rows.append({"file": file_index, "url": url, "record_id": rid, **truth})
        _write_wet(out / "wet" / f"synth-{file_index:05d}.warc.wet.gz", wet_docs, cfg.include_bad_records)
        _write_warc(out / "warc" / f"synth-{file_index:05d}.warc.gz", warc_docs, rng)
    if cfg.include_truncated_file:
        # Cut inside the first record after warcinfo: the file counts one corrupt_stream error and yields nothing.
        whole = (out / "wet" / "synth-00000.warc.wet.gz").read_bytes()
        second_member = whole.find(b"\x1f\x8b", 2)
        (out / "wet" / "synth-truncated.warc.wet.gz").write_bytes(whole[: second_member + 40])
    with gzip.open(out / "truth.jsonl.gz", "wt", encoding="utf-8") as f:
        for row in truth_rows:
            f.write(json.dumps(row) + "\n")
    return {"num_docs": len(truth_rows), "num_files": cfg.num_files, "out_dir": str(out)}
