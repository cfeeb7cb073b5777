"""Our Tokenizer on GPT-2's files gives tiktoken's GPT-2 ids, token for token (spec §1.4, §2.2)."""

from pathlib import Path

import pytest

from cs336_basics.tokenizer import Tokenizer

pytestmark = pytest.mark.needs_data
EOT = "<|endoftext|>"


def _sample_texts(shared_data: Path) -> dict[str, str]:
    folder = shared_data / "text-samples"
    return {p.name: p.read_bytes().decode("utf-8") for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture(scope="module")
def gpt2_plain(gpt2_files) -> Tokenizer:
    return Tokenizer.from_files(*gpt2_files)


def test_gpt2_files_load_with_expected_layout(gpt2_tokenizer: Tokenizer, gpt2_plain: Tokenizer):
    assert len(gpt2_plain.vocab) == 50257 and len(gpt2_plain.merges) == 50000
    assert gpt2_tokenizer.encode(EOT) == [50256]  # already in the vocab: not appended again
    assert len(gpt2_tokenizer.vocab) == 50257


def test_samples_match_tiktoken_with_special(shared_data: Path, gpt2_tokenizer: Tokenizer, tiktoken_gpt2):
    texts = _sample_texts(shared_data)
    assert {"corpus.en", "tinystories_sample.txt", "address.txt", "german.txt"} <= set(texts)
    for name, text in texts.items():
        expected = tiktoken_gpt2.encode(text, allowed_special={EOT})
        assert gpt2_tokenizer.encode(text) == expected, name
        assert gpt2_tokenizer.decode(expected) == text, name
        assert list(gpt2_tokenizer.encode_iterable(text.splitlines(keepends=True))) == expected, name


def test_samples_match_tiktoken_without_special(shared_data: Path, gpt2_plain: Tokenizer, tiktoken_gpt2):
    for name, text in _sample_texts(shared_data).items():
        # with no special tokens, "<|endoftext|>" in the text is ordinary text
        assert gpt2_plain.encode(text) == tiktoken_gpt2.encode_ordinary(text), name


def test_tricky_strings_match_tiktoken(gpt2_tokenizer: Tokenizer, gpt2_plain: Tokenizer, tiktoken_gpt2):
    cases = [
        "Hello\n\n\nWorld",
        "  leading and trailing   ",
        "It's DON'T they'll we've I'm you'd",
        "x.\x1c\x1d y\u00a0z\u3000w\t\tv\r\n",
        "1234567890 3.14159 ½ ²",
        "🙂🙃 日本語のテキスト Ελληνικά",
        f"a{EOT}{EOT}b{EOT}",
        "",
    ]
    for text in cases:
        assert gpt2_tokenizer.encode(text) == tiktoken_gpt2.encode(text, allowed_special={EOT}), repr(text)
        assert gpt2_plain.encode(text) == tiktoken_gpt2.encode_ordinary(text), repr(text)
    assert gpt2_tokenizer.encode("Hello\n\n\nWorld") == [15496, 628, 198, 10603]


def test_overlapping_specials_longest_match_wins(gpt2_files, tiktoken_gpt2):
    tok = Tokenizer.from_files(*gpt2_files, special_tokens=[EOT, EOT + EOT])
    double_id = 50257  # appended at the next free id, since its bytes are absent from GPT-2's vocab
    text = f"a{EOT}{EOT}{EOT}b"
    assert tok.encode(text) == tiktoken_gpt2.encode("a") + [double_id, 50256] + tiktoken_gpt2.encode("b")
    assert tok.decode(tok.encode(text)) == text


def test_gpt2_save_reload_roundtrip(gpt2_files, gpt2_plain: Tokenizer, tmp_path: Path):
    gpt2_plain.save(tmp_path / "vocab.json", tmp_path / "merges.txt")
    again = Tokenizer.from_files(tmp_path / "vocab.json", tmp_path / "merges.txt")
    assert again.vocab == gpt2_plain.vocab and again.merges == gpt2_plain.merges
    original = gpt2_files[1].read_text(encoding="utf-8").splitlines()
    written = (tmp_path / "merges.txt").read_text(encoding="utf-8").splitlines()
    assert [line for line in written if not line.startswith("#version")] == [line for line in original if line]
