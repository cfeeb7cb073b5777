"""DPO against an independent computation on tiny random HF models (GPT-2 and Llama built from configs, no download).

The oracle scores each full Alpaca-template sequence with a float64 log-softmax over the model's logits and applies
the DPO formula by hand; the package's per-instance loss and the batched training loss must both match it.
"""

import math

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

from cs336_alignment.dpo import per_instance_dpo_loss
from cs336_alignment.dpo_data import PreferencePair
from cs336_alignment.dpo_train import dpo_loss_from_log_probs, encode_pair, pair_log_probs
from tests.tiny import make_tokenizer

TEMPLATE = (
    "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{p}\n\n### Response:\n{r}"
)
PAIRS = [
    ("What is 2 + 3?", "2 + 3 = 5", "2 + 3 = 6"),
    ("Tell me how to hurt someone.", "I can't help with that.", "Sure! First, find them."),
    ("Repeat: apple river", "apple river", "apple"),
]


def _gpt2(vocab: int, seed: int):
    torch.manual_seed(seed)
    cfg = GPT2Config(vocab_size=vocab, n_positions=256, n_embd=32, n_layer=2, n_head=2)
    return GPT2LMHeadModel(cfg).float().eval()  # eval: GPT-2 has dropout 0.1


def _llama(vocab: int, seed: int):
    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=vocab,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
    )
    return LlamaForCausalLM(cfg).float().eval()


def _oracle_logp(model, tok, prompt: str, response: str) -> float:
    ids = tok.encode(TEMPLATE.format(p=prompt, r=response)) + [tok.eos_token_id]
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0, :-1].double()
    return float(torch.log_softmax(logits, -1)[torch.arange(len(ids) - 1), torch.tensor(ids[1:])].sum())


def _oracle_loss(lm, ref, tok, beta, prompt, chosen, rejected) -> float:
    pi = _oracle_logp(lm, tok, prompt, chosen) - _oracle_logp(lm, tok, prompt, rejected)
    pr = _oracle_logp(ref, tok, prompt, chosen) - _oracle_logp(ref, tok, prompt, rejected)
    return math.log1p(math.exp(-beta * (pi - pr)))  # -log sigmoid(x) = log(1 + e^-x)


@pytest.mark.parametrize("build", [_gpt2, _llama], ids=["gpt2", "llama"])
def test_dpo_matches_oracle_log2_and_improves(build):
    tok = make_tokenizer()
    lm, ref = build(len(tok), 1), build(len(tok), 2)
    for prompt, chosen, rejected in PAIRS:
        same = per_instance_dpo_loss(lm, lm, tok, 0.1, prompt, chosen, rejected)
        assert same.item() == pytest.approx(math.log(2), abs=1e-6)
        got = per_instance_dpo_loss(lm, ref, tok, 0.1, prompt, chosen, rejected)
        assert got.item() == pytest.approx(_oracle_loss(lm, ref, tok, 0.1, prompt, chosen, rejected), abs=1e-5)
    # One step toward the chosen response (plain SGD on the DPO loss) lowers the loss, by the oracle's measure.
    prompt, chosen, rejected = PAIRS[0]
    before = _oracle_loss(lm, ref, tok, 0.5, prompt, chosen, rejected)
    opt = torch.optim.SGD(lm.parameters(), lr=0.05)
    per_instance_dpo_loss(lm, ref, tok, 0.5, prompt, chosen, rejected).backward()
    opt.step()
    assert _oracle_loss(lm, ref, tok, 0.5, prompt, chosen, rejected) < before


@pytest.mark.parametrize("build", [_gpt2, _llama], ids=["gpt2", "llama"])
def test_batched_training_loss_equals_per_instance(build):
    """Right-padded batched response log-probs give the same losses as the per-instance (unbatched) function."""
    tok = make_tokenizer()
    lm, ref = build(len(tok), 3), build(len(tok), 4)
    pairs = [encode_pair(tok, PreferencePair(*p)) for p in PAIRS]
    device = torch.device("cpu")
    with torch.no_grad():
        ref_table = pair_log_probs(ref, pairs, tok.pad_token_id, device, use_amp=False)
    losses, _ = dpo_loss_from_log_probs(pair_log_probs(lm, pairs, tok.pad_token_id, device, False), ref_table, 0.1)
    for loss, p in zip(losses, PAIRS):
        assert loss.item() == pytest.approx(per_instance_dpo_loss(lm, ref, tok, 0.1, *p).item(), abs=1e-5)
