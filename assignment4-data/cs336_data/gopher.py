"""Gopher quality rules (Rae et al. 2021, appendix A; handout §2.6).

    cs336-data gopher doc.txt

By default exactly the handout's four rules, with inclusive thresholds on the kept side:
1. 50 <= number of words <= 100,000;
2. 3 <= mean word length <= 10 characters;
3. at most 30% of non-blank lines end with "..." (or the single character "…");
4. at least 80% of words contain an alphabetic character.
Words are whitespace tokens (`text.split()`); lines are `text.splitlines()` without blank lines.

`GopherConfig(extended=True)` adds the rest of the Gopher appendix for the pipeline: symbol-to-word ratio, bullet
lines, stop words, and the repetition rules (duplicate lines/paragraphs, top n-gram and duplicated n-gram character
fractions). They stay off in the adapter: repetition rules reject valid texts built from repeated sentences.
"""

from collections import Counter
from dataclasses import dataclass

from cs336_data.errors import ConfigError

ELLIPSES = ("...", "…")
BULLETS = ("•", "●", "‣", "◦", "▪", "-", "*", "·")
STOP_WORDS = frozenset({"the", "be", "to", "of", "and", "that", "have", "with"})
TOP_NGRAM_MAX_FRACTION = {2: 0.20, 3: 0.18, 4: 0.16}
DUP_NGRAM_MAX_FRACTION = {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10}


@dataclass(frozen=True, kw_only=True)
class GopherConfig:
    min_words: int = 50
    max_words: int = 100_000
    min_mean_word_length: float = 3.0
    max_mean_word_length: float = 10.0
    max_ellipsis_line_fraction: float = 0.30
    min_alpha_word_fraction: float = 0.80
    extended: bool = False  # the remaining Gopher rules below
    max_symbol_word_ratio: float = 0.10
    max_bullet_line_fraction: float = 0.90
    min_stop_words: int = 2
    max_duplicate_line_fraction: float = 0.30
    max_duplicate_paragraph_fraction: float = 0.30
    max_duplicate_line_char_fraction: float = 0.20
    max_duplicate_paragraph_char_fraction: float = 0.20

    def __post_init__(self) -> None:
        if self.min_words > self.max_words:
            raise ConfigError(f"gopher min_words ({self.min_words}) > max_words ({self.max_words})")
        if self.min_mean_word_length > self.max_mean_word_length:
            raise ConfigError(
                f"gopher min_mean_word_length ({self.min_mean_word_length}) > "
                f"max_mean_word_length ({self.max_mean_word_length})"
            )


@dataclass(frozen=True)
class GopherStats:
    num_words: int
    mean_word_length: float
    ellipsis_line_fraction: float
    alpha_word_fraction: float


def gopher_stats(text: str) -> GopherStats:
    """The four quantities the default rules test (useful for diagnosing a rejection)."""
    words = text.split()
    lines = [line for line in text.splitlines() if line.strip()]
    num_words = len(words)
    mean_len = sum(map(len, words)) / num_words if num_words else 0.0
    ellipsis = sum(line.rstrip().endswith(ELLIPSES) for line in lines) / len(lines) if lines else 0.0
    alpha = sum(any(c.isalpha() for c in w) for w in words) / num_words if num_words else 0.0
    return GopherStats(num_words, mean_len, ellipsis, alpha)


def _dup_fractions(items: list[str]) -> tuple[float, float]:
    """(fraction of items that repeat an earlier one, fraction of characters in those repeats)."""
    if not items:
        return 0.0, 0.0
    seen: set[str] = set()
    dup_items = dup_chars = 0
    for item in items:
        if item in seen:
            dup_items += 1
            dup_chars += len(item)
        seen.add(item)
    total_chars = sum(map(len, items)) or 1
    return dup_items / len(items), dup_chars / total_chars


def _extended_reasons(text: str, words: list[str], cfg: GopherConfig) -> list[str]:
    reasons = []
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    num_words = len(words) or 1
    symbols = text.count("#") + sum(text.count(e) for e in ELLIPSES)
    if symbols / num_words > cfg.max_symbol_word_ratio:
        reasons.append("symbol_ratio")
    if lines and sum(line.startswith(BULLETS) for line in lines) / len(lines) > cfg.max_bullet_line_fraction:
        reasons.append("bullet_lines")
    if sum(w.lower() in STOP_WORDS for w in words) < cfg.min_stop_words:
        reasons.append("stop_words")
    line_frac, line_char_frac = _dup_fractions(lines)
    paragraphs = [p.strip() for p in text.split("\n\n") if p.strip()]
    para_frac, para_char_frac = _dup_fractions(paragraphs)
    if line_frac > cfg.max_duplicate_line_fraction or line_char_frac > cfg.max_duplicate_line_char_fraction:
        reasons.append("duplicate_lines")
    if para_frac > cfg.max_duplicate_paragraph_fraction or para_char_frac > cfg.max_duplicate_paragraph_char_fraction:
        reasons.append("duplicate_paragraphs")
    lowered = [w.lower() for w in words]
    total_chars = sum(map(len, lowered)) or 1
    for n, limit in TOP_NGRAM_MAX_FRACTION.items():
        grams = Counter(tuple(lowered[i : i + n]) for i in range(len(lowered) - n + 1))
        if grams:
            gram, count = grams.most_common(1)[0]
            if count > 1 and sum(map(len, gram)) * count / total_chars > limit:
                reasons.append(f"top_{n}gram")
    for n, limit in DUP_NGRAM_MAX_FRACTION.items():
        seen: set[tuple[str, ...]] = set()
        covered = [False] * len(lowered)
        for i in range(len(lowered) - n + 1):
            gram = tuple(lowered[i : i + n])
            if gram in seen:
                covered[i : i + n] = [True] * n
            seen.add(gram)
        if sum(len(w) for w, c in zip(lowered, covered) if c) / total_chars > limit:
            reasons.append(f"dup_{n}gram")
    return reasons


def gopher_reasons(text: str, config: GopherConfig | None = None) -> list[str]:
    """Names of the rules `text` fails (empty list = keep)."""
    cfg = config or GopherConfig()
    stats = gopher_stats(text)
    reasons = []
    if not cfg.min_words <= stats.num_words <= cfg.max_words:
        reasons.append("num_words")
    if not cfg.min_mean_word_length <= stats.mean_word_length <= cfg.max_mean_word_length:
        reasons.append("mean_word_length")
    if stats.ellipsis_line_fraction > cfg.max_ellipsis_line_fraction:
        reasons.append("ellipsis_lines")
    if stats.alpha_word_fraction < cfg.min_alpha_word_fraction:
        reasons.append("alpha_words")
    if cfg.extended:
        reasons.extend(_extended_reasons(text, text.split(), cfg))
    return reasons


def gopher_quality_filter(text: str, config: GopherConfig | None = None) -> bool:
    """True = keep: `text` passes every enabled Gopher rule."""
    return not gopher_reasons(text, config)
