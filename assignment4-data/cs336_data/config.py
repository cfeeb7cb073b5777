"""Frozen, TOML-loadable configuration of the filtering pipeline (`cs336-data filter`).

Precedence: dataclass defaults < `--config FILE.toml` < `--set section.key=value` (values parsed as TOML literals).
Sections map one-to-one to TOML tables `[stages]`, `[dedup]`, `[tokenize]`, `[run]`.
"""

import dataclasses
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cs336_data.errors import ConfigError
from cs336_data.gopher import GopherConfig


@dataclass(frozen=True, kw_only=True)
class StagesConfig:
    extract_main_content: bool = True  # WARC input only: Resiliparse main-content extraction (better training text)
    langid: bool = True
    language: str = "en"
    langid_threshold: float = 0.65  # keep when label == language and P >= threshold
    gopher: bool = True
    gopher_extended: bool = False  # the full Gopher rule set (repetition rules etc.)
    harmful: bool = True
    nsfw_threshold: float = 0.9  # drop when P(nsfw) > threshold
    toxic_threshold: float = 0.9  # drop when P(toxic) > threshold
    quality: bool = True
    quality_model: str = ""  # empty: resolve_asset("quality")
    quality_threshold: float = 0.5  # keep when P(wiki) >= threshold
    pii: bool = True

    def __post_init__(self) -> None:
        for name in ("langid_threshold", "nsfw_threshold", "toxic_threshold", "quality_threshold"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"stages.{name} ({value}) must be in [0, 1]")


@dataclass(frozen=True, kw_only=True)
class DedupConfig:
    exact_lines: bool = True
    keep_blank_lines: bool = True  # blank lines repeat everywhere; removing them would glue paragraphs
    num_shards: int = 0  # 0: count line keys in memory; N: hash-partition them into N on-disk shards
    minhash: bool = True
    num_hashes: int = 128
    num_bands: int = 16
    ngrams: int = 5
    jaccard_threshold: float = 0.8

    def __post_init__(self) -> None:
        if self.num_bands < 1 or self.num_hashes % self.num_bands:
            raise ConfigError(
                f"dedup.num_hashes ({self.num_hashes}) must be a multiple of num_bands ({self.num_bands})"
            )


@dataclass(frozen=True, kw_only=True)
class TokenizeConfig:
    enable: bool = False
    tokenizer: str = "gpt2"  # "gpt2" (GPT-2 files via tiktoken) or "a1" (cs336_basics.tokenizer.Tokenizer)
    vocab_path: str = ""  # gpt2_vocab.json / the A1 vocab file
    merges_path: str = ""  # gpt2_merges.txt / the A1 merges file
    eos_token: str = "<|endoftext|>"

    def __post_init__(self) -> None:
        if self.tokenizer not in ("gpt2", "a1"):
            raise ConfigError(f"tokenize.tokenizer must be 'gpt2' or 'a1', got {self.tokenizer!r}")
        if self.enable and not (self.vocab_path and self.merges_path):
            raise ConfigError("tokenize.enable needs tokenize.vocab_path and tokenize.merges_path")


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    inputs: list[str] = field(default_factory=list)  # WARC/WET files or directories
    out_dir: str = "runs/filter"
    executor: str = "local"  # local (process pool) | slurm | submitit-local (submitit's local executor)
    num_workers: int = 2
    seed: int = 0
    progress: bool = True
    slurm_partition: str = ""
    slurm_timeout_min: int = 60
    slurm_cpus_per_task: int = 2
    slurm_mem_gb: int = 4

    def __post_init__(self) -> None:
        if self.executor not in ("local", "slurm", "submitit-local"):
            raise ConfigError(f"run.executor must be local, slurm or submitit-local, got {self.executor!r}")
        if self.num_workers < 1:
            raise ConfigError(f"run.num_workers ({self.num_workers}) must be >= 1")


@dataclass(frozen=True, kw_only=True)
class FilterConfig:
    stages: StagesConfig = field(default_factory=StagesConfig)
    dedup: DedupConfig = field(default_factory=DedupConfig)
    tokenize: TokenizeConfig = field(default_factory=TokenizeConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def gopher_config(self) -> GopherConfig:
        return GopherConfig(extended=self.stages.gopher_extended)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


def _merge_section(cls, values: dict[str, Any], section: str):
    valid = {f.name: f for f in dataclasses.fields(cls)}
    for key, value in values.items():
        if key not in valid:
            raise ConfigError(f"unknown key {section}.{key}; valid keys: {sorted(valid)}")
        default = getattr(cls(), key)
        if isinstance(default, bool) != isinstance(value, bool) or (
            not isinstance(default, bool)
            and isinstance(default, (int, float, str, list))
            and not isinstance(value, type(default))
            and not (isinstance(default, float) and isinstance(value, int))
        ):
            raise ConfigError(f"{section}.{key} must be {type(default).__name__}, got {value!r}")
    return cls(**values)


def build_config(raw: dict[str, Any]) -> FilterConfig:
    sections = {f.name: f.default_factory for f in dataclasses.fields(FilterConfig)}
    for name in raw:
        if name not in sections:
            raise ConfigError(f"unknown config section [{name}]; valid sections: {sorted(sections)}")
    kwargs = {name: _merge_section(type(factory()), raw.get(name, {}), name) for name, factory in sections.items()}
    return FilterConfig(**kwargs)


def parse_override(item: str) -> tuple[list[str], Any]:
    """`section.key=value` with the value parsed as a TOML literal (bare words are taken as strings)."""
    key, sep, value = item.partition("=")
    if not sep or "." not in key:
        raise ConfigError(f"--set expects section.key=value, got {item!r}")
    try:
        parsed = tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        parsed = value
    return key.strip().split("."), parsed


def load_config(path: str | None = None, overrides: list[str] = (), **run_overrides: Any) -> FilterConfig:
    raw: dict[str, dict[str, Any]] = {}
    if path:
        try:
            raw = tomllib.loads(Path(path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read config {path}: {exc}") from exc
    for item in overrides:
        keys, value = parse_override(item)
        if len(keys) != 2:
            raise ConfigError(f"--set key must be section.key, got {'.'.join(keys)!r}")
        raw.setdefault(keys[0], {})[keys[1]] = value
    for key, value in run_overrides.items():
        if value is not None:
            raw.setdefault("run", {})[key] = value
    return build_config(raw)
