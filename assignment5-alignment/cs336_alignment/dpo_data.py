"""Preference pairs for DPO: JSONL `{prompt, chosen, rejected}` rows, Anthropic HH files, or the synthetic pairs.

Anthropic HH (supplement problem look_at_hh): each of the four train files (`harmless-base`, `helpful-base`,
`helpful-online`, `helpful-rejection-sampled`, `.jsonl.gz`) holds `{chosen, rejected}` transcripts of
"\\n\\nHuman: ... \\n\\nAssistant: ..." turns. Multi-turn conversations are dropped; the instruction is the single
human turn, the responses the two assistant turns; the source file is kept in `source`.

    python -c "from cs336_alignment.dpo_data import load_hh; print(load_hh('/data/hh')[:1])"
"""

import gzip
import json
import random
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from cs336_alignment.data.instruct_synthetic import preference_splits
from cs336_alignment.errors import AlignmentError

_TURN = re.compile(r"\n\n(Human|Assistant): ")


@dataclass(frozen=True)
class PreferencePair:
    prompt: str
    chosen: str
    rejected: str
    source: str = ""  # HH file name, or the synthetic task


def _split_turns(transcript: str) -> list[tuple[str, str]]:
    parts = _TURN.split(transcript)
    return [(parts[i], parts[i + 1].strip()) for i in range(1, len(parts) - 1, 2)]


def hh_pair(chosen: str, rejected: str, source: str) -> PreferencePair | None:
    """The pair of a single-turn HH conversation, or None (multi-turn, malformed, or different instructions)."""
    c, r = _split_turns(chosen), _split_turns(rejected)
    if (
        len(c) != 2
        or len(r) != 2
        or [t[0] for t in c] != ["Human", "Assistant"]
        or [t[0] for t in r] != ["Human", "Assistant"]
    ):
        return None
    if c[0][1] != r[0][1]:
        return None
    return PreferencePair(c[0][1], c[1][1], r[1][1], source)


def load_hh(folder: str | Path) -> list[PreferencePair]:
    folder = Path(folder)
    files = sorted(folder.glob("*.jsonl.gz"))
    if not files:
        raise AlignmentError(f"no Anthropic HH *.jsonl.gz files in {folder}")
    pairs = []
    for file in files:
        with gzip.open(file, "rt", encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    row = json.loads(line)
                    pair = hh_pair(row["chosen"], row["rejected"], file.name.removesuffix(".jsonl.gz"))
                    if pair is not None:
                        pairs.append(pair)
    return pairs


def load_pair_jsonl(path: str | Path) -> list[PreferencePair]:
    path = Path(path)
    if not path.is_file():
        raise AlignmentError(f"preference data not found: {path}")
    opener = gzip.open if path.suffix == ".gz" else open
    pairs = []
    with opener(path, "rt", encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            row = json.loads(line)
            missing = {"prompt", "chosen", "rejected"} - set(row)
            if missing:
                raise AlignmentError(f"{path}:{lineno} lacks {', '.join(sorted(missing))}; keys: {sorted(row)}")
            pairs.append(
                PreferencePair(row["prompt"], row["chosen"], row["rejected"], row.get("task", row.get("source", "")))
            )
    return pairs


def save_pairs(path: Path, pairs: list[PreferencePair]) -> None:
    with path.open("w", encoding="utf-8") as f:
        for p in pairs:
            f.write(json.dumps(asdict(p)) + "\n")


def load_preference_data(cfg, seed: int) -> tuple[list[PreferencePair], list[PreferencePair]]:
    """(train, val) for a `PrefDataConfig`; without a val file, `num_val` pairs are held out (seeded)."""
    if cfg.format == "synthetic":
        train_rows, val_rows = preference_splits(cfg.synthetic_num_train, cfg.num_val, cfg.synthetic_seed)
        to_pair = lambda r: PreferencePair(r["prompt"], r["chosen"], r["rejected"], r["task"])  # noqa: E731
        train, val = [to_pair(r) for r in train_rows], [to_pair(r) for r in val_rows]
    else:
        pairs = load_hh(cfg.train_path) if cfg.format == "hh" else load_pair_jsonl(cfg.train_path)
        if cfg.val_path:
            train, val = pairs, load_pair_jsonl(cfg.val_path)
        else:
            if len(pairs) <= cfg.num_val:
                raise AlignmentError(
                    f"{len(pairs)} pairs cannot spare pref_data.num_val = {cfg.num_val} for validation"
                )
            order = list(range(len(pairs)))
            random.Random(seed).shuffle(order)
            val = [pairs[i] for i in order[: cfg.num_val]]
            train = [pairs[i] for i in order[cfg.num_val :]]
    if cfg.max_pairs:
        train = train[: cfg.max_pairs]
    if not train or not val:
        raise AlignmentError(f"need training and validation pairs; got {len(train)} and {len(val)}")
    return train, val
