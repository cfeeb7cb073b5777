"""An embedded, seeded corpus of templated children's stories, and its preparation for training.

TinyStories cannot be downloaded on offline machines, so the offline main job trains on stories this module writes:
a small grammar (characters, places, objects, wants, problems, helpers, endings) filled in by a seeded
`random.Random`, each story followed by `<|endoftext|>`. The text is synthetic and simple by design: a small model
learns it in minutes on a CPU and its samples are readable, which is what the offline demo needs to show.

    uv run cs336-basics train --config configs/offline_demo.toml   # generates, trains BPE, encodes, trains, samples
"""

import json
import logging
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cs336_basics.config import CorpusConfig

logger = logging.getLogger(__name__)

EOT = "<|endoftext|>"
NAMES = ["Lily", "Tom", "Mia", "Ben", "Sara", "Max", "Anna", "Sam", "Lucy", "Jack", "Emma", "Leo", "Zoe", "Tim"]
ANIMALS = ["cat", "dog", "bunny", "bird", "duck", "frog", "bear", "fox", "mouse", "puppy"]
PLACES = ["the park", "the garden", "the forest", "the beach", "the farm", "the big hill", "the pond", "the yard"]
OBJECTS = ["red ball", "blue kite", "little boat", "shiny stone", "toy car", "yellow hat", "big box", "teddy bear"]
FEELINGS_GOOD = ["happy", "glad", "proud", "excited"]
FEELINGS_BAD = ["sad", "scared", "worried", "upset"]
WEATHER = ["sunny", "windy", "rainy", "warm", "cold", "bright"]
PROBLEMS = [
    "the {obj} fell into the water",
    "the {obj} got stuck in a tall tree",
    "a strong wind took the {obj} away",
    "the {obj} was lost under the leaves",
    "the {obj} broke into two pieces",
]
FIXES = [
    "{helper} had a good idea. {pron_h} used a long stick to get the {obj} back",
    "{helper} climbed up slowly and gave the {obj} back to {name}",
    "{helper} looked everywhere and found the {obj} near a big rock",
    "{helper} helped {name} fix the {obj} with some tape",
]
LESSONS = [
    "{name} learned that friends help each other.",
    "{name} learned to be careful with things {pron} loves.",
    "From that day on, {name} always shared with {helper}.",
    "{name} said thank you, and they played until the sun went down.",
]
OPENINGS = [
    "Once upon a time, there was a little {kind} named {name}.",
    "One {weather} day, a {kind} named {name} went to {place}.",
    "There once was a {feel_good} {kind} called {name}.",
]


@dataclass(frozen=True)
class CorpusPaths:
    train: Path
    val: Path
    tokenizer: Path


def _story(rng: random.Random) -> str:
    name, helper = rng.sample(NAMES, 2)
    kind = rng.choice(["girl", "boy"] + ANIMALS)
    pron = "she" if name in {"Lily", "Mia", "Sara", "Anna", "Lucy", "Emma", "Zoe"} else "he"
    pron_h = "She" if helper in {"Lily", "Mia", "Sara", "Anna", "Lucy", "Emma", "Zoe"} else "He"
    obj, place = rng.choice(OBJECTS), rng.choice(PLACES)
    fill = {
        "name": name,
        "helper": helper,
        "kind": kind,
        "pron": pron,
        "pron_h": pron_h,
        "obj": obj,
        "place": place,
        "weather": rng.choice(WEATHER),
        "feel_good": rng.choice(FEELINGS_GOOD),
    }
    sentences = [
        rng.choice(OPENINGS).format(**fill),
        f"{name} had a {obj}. {pron.capitalize()} loved to play with it at {place}.",
        f"One day, {rng.choice(PROBLEMS).format(**fill)}.",
        f'{name} was very {rng.choice(FEELINGS_BAD)}. "Oh no! My {obj}!" {pron} said.',
        f'Then {helper} came to {place}. "Do not be sad, {name}. I will help you," said {helper}.',
        f"{rng.choice(FIXES).format(**fill)}.",
        f"{name} was so {rng.choice(FEELINGS_GOOD)}. {rng.choice(LESSONS).format(**fill)}",
    ]
    if rng.random() < 0.5:  # optional middle sentence, so stories differ in length and shape
        sentences.insert(2, f"The sky was {fill['weather']} and the birds were singing.")
    return " ".join(sentences)


def generate_stories(num_docs: int, seed: int = 0) -> list[str]:
    """`num_docs` stories, identical for the same seed on every platform (only `random.Random` is used)."""
    rng = random.Random(seed)
    return [_story(rng) for _ in range(num_docs)]


def write_corpus(stories: list[str], path: Path) -> None:
    path.write_text("".join(f"{s}\n{EOT}\n" for s in stories), encoding="utf-8")


def prepare_corpus(cfg: CorpusConfig, vocab_size: int, out_dir: str | Path) -> CorpusPaths:
    """Generate -> train BPE on the train split -> encode both splits to uint16 .npy. Skips work already done."""
    from cs336_basics.bpe import train_bpe
    from cs336_basics.sampling import MERGES_FILE, VOCAB_FILE
    from cs336_basics.tokenizer import Tokenizer

    out_dir = Path(out_dir)
    tok_dir = out_dir / "tokenizer"
    paths = CorpusPaths(train=out_dir / "train.npy", val=out_dir / "val.npy", tokenizer=tok_dir)
    stamp = out_dir / "corpus.json"
    wanted = {"kind": cfg.kind, "num_docs": cfg.num_docs, "seed": cfg.seed, "val_fraction": cfg.val_fraction}
    wanted["vocab_size"] = vocab_size
    if stamp.is_file() and json.loads(stamp.read_text()) == wanted and paths.train.is_file() and paths.val.is_file():
        return paths
    tok_dir.mkdir(parents=True, exist_ok=True)
    stories = generate_stories(cfg.num_docs, cfg.seed)
    num_val = max(1, round(cfg.num_docs * cfg.val_fraction))
    texts = {"train": stories[num_val:], "val": stories[:num_val]}
    for split, docs in texts.items():
        write_corpus(docs, out_dir / f"{split}.txt")
    logger.info(
        "corpus: %d train / %d val stories in %s; training BPE (vocab %d)",
        len(texts["train"]),
        num_val,
        out_dir,
        vocab_size,
    )
    vocab, merges = train_bpe(out_dir / "train.txt", vocab_size, [EOT])
    tokenizer = Tokenizer(vocab, merges, special_tokens=[EOT])
    tokenizer.save(str(tok_dir / VOCAB_FILE), str(tok_dir / MERGES_FILE))
    for split in texts:
        ids = tokenizer.encode((out_dir / f"{split}.txt").read_text(encoding="utf-8"))
        np.save(out_dir / f"{split}.npy", np.asarray(ids, dtype=np.uint16))
    stamp.write_text(json.dumps(wanted))
    return paths
