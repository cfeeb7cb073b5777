import pytest

from cs336_data.errors import ConfigError
from cs336_data.gopher import GopherConfig, gopher_reasons, gopher_stats
from tests.adapters import run_gopher_quality_filter


def words(n: int, word: str = "word") -> str:
    return " ".join([word] * n)


def test_word_count_bounds_inclusive():
    assert not run_gopher_quality_filter(words(49))
    assert run_gopher_quality_filter(words(50))
    assert run_gopher_quality_filter(words(100_000, "abc"))
    assert not run_gopher_quality_filter(words(100_001, "abc"))


def test_mean_word_length_bounds_inclusive():
    assert run_gopher_quality_filter(words(60, "abc"))  # mean 3
    assert not run_gopher_quality_filter(words(60, "ab"))
    assert run_gopher_quality_filter(words(60, "a" * 10))  # mean 10
    assert not run_gopher_quality_filter(words(60, "a" * 11))


def test_ellipsis_lines():
    base = [words(10) for _ in range(10)]
    three = [line + "..." if i < 3 else line for i, line in enumerate(base)]
    four = [line + "…" if i < 4 else line for i, line in enumerate(base)]
    assert run_gopher_quality_filter("\n".join(three))  # exactly 30% passes
    assert not run_gopher_quality_filter("\n".join(four))
    assert gopher_stats("\n\n".join(four)).ellipsis_line_fraction == pytest.approx(0.4)  # blank lines ignored


def test_alphabetic_words():
    assert run_gopher_quality_filter(words(80) + " " + " ".join(["123"] * 20))  # exactly 80%
    assert not run_gopher_quality_filter(words(79) + " " + " ".join(["123"] * 21))


def test_default_has_no_repetition_rules_but_extended_does():
    text = "\n".join(["the cat sat on the mat with the hat"] * 20)
    assert run_gopher_quality_filter(text)
    reasons = gopher_reasons(text, GopherConfig(extended=True))
    assert "duplicate_lines" in reasons and "top_2gram" in reasons


def test_extended_stop_words_and_symbols():
    text = " ".join(["alpha beta gamma delta"] * 20)
    assert "stop_words" in gopher_reasons(text, GopherConfig(extended=True))
    hashy = " ".join(f"#tag{i} word{i} and the" for i in range(40))
    assert "symbol_ratio" in gopher_reasons(hashy, GopherConfig(extended=True))


def test_config_validation():
    with pytest.raises(ConfigError, match="min_words"):
        GopherConfig(min_words=10, max_words=5)
