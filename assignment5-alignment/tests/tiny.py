"""Hermetic tiny assets for the tests: a byte-level BPE tokenizer trained in-process and small random HF models."""

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

EOS = "<|endoftext|>"
CORPUS = [
    "A conversation between User and Assistant. The Assistant thinks, then answers.",
    "User: Tom has 3 apples and buys 4 more. How many apples?",
    "Assistant: <think> 3 + 4 = 7 </think> <answer> 7 </answer>",
    "The answer is \\boxed{42}. Fractions like \\frac{1}{2} and numbers like 1,000 appear too.",
    "Sam had 12 coins, gave away 5 and found 9. 12 - 5 = 7, 7 + 9 = 16.",
] * 8


def make_tokenizer(vocab_size: int = 320) -> PreTrainedTokenizerFast:
    """A byte-level BPE (digits split individually, as Qwen does) wrapped as a Hugging Face fast tokenizer."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=[EOS], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(CORPUS, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, pad_token=EOS)


def make_qwen2(vocab_size: int, seed: int = 0, num_layers: int = 2) -> Qwen2ForCausalLM:
    """A seeded random 2-layer Qwen2 causal LM in fp32 and eval mode (no hub download)."""
    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=num_layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        tie_word_embeddings=False,
    )
    return Qwen2ForCausalLM(config).float().eval()
