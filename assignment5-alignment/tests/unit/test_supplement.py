"""Supplement pieces: MMLU/GSM8K parsers, the packed SFT dataset and the per-instance DPO loss."""

import json
import math

import pytest
import torch

from tests import adapters
from tests.tiny import make_qwen2, make_tokenizer

MMLU = {"subject": "chemistry", "question": "Q?", "options": ["Carbon", "Helium", "Neon", "Argon"], "answer": "A"}


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("The correct answer is C. Because neon is inert.", "C"),
        ("the correct answer is (b)", "B"),
        ("The correct answer is D", "D"),
        ("The correct answer is 42 apples.", None),
        ("The correct answer is Carbon", "A"),  # falls back to the option text
        ("I think it is A, no wait. The correct answer is B.", "B"),
        ("No idea.", None),
        ("Helium or Neon?", None),  # two options quoted: ambiguous
    ],
)
def test_parse_mmlu(output, expected):
    assert adapters.run_parse_mmlu_response(MMLU, output) == expected


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("so she has 35 marbles in total.", "35"),
        ("It costs $1,234.50 overall.", "1234.50"),
        ("From 3 to -7", "-7"),
        ("Answer: 18.", "18"),
        ("words only", None),
        ("2 + 2 = 4, so 40,000", "40000"),
    ],
)
def test_parse_gsm8k(output, expected):
    assert adapters.run_parse_gsm8k_response(output) == expected


ROWS = [{"prompt": f"Say {i}", "response": f"{i} {'x' * (i % 5)}"} for i in range(12)]
ALPACA = (
    "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{p}\n\n### Response:\n{r}"
)


@pytest.fixture
def sft_file(tmp_path):
    path = tmp_path / "sft.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    return path


def test_packed_dataset_exact_layout_and_batches(sft_file):
    tok = make_tokenizer()
    ds = adapters.get_packed_sft_dataset(tok, sft_file, 16, shuffle=False)
    stream = []
    for r in ROWS:
        stream += tok.encode(ALPACA.format(p=r["prompt"], r=r["response"])) + [tok.eos_token_id]
    assert len(ds) == (len(stream) - 1) // 16
    for i in (0, 3, len(ds) - 1):
        assert ds[i]["input_ids"].tolist() == stream[16 * i : 16 * i + 16]
        assert ds[i]["labels"].tolist() == stream[16 * i + 1 : 16 * i + 17]
        assert ds[i]["input_ids"].dtype == torch.int64
    with pytest.raises(IndexError):
        ds[len(ds)]
    assert sum(1 for _ in ds) == len(ds)  # the legacy iteration protocol terminates
    batches = list(adapters.run_iterate_batches(ds, 4, shuffle=True))
    assert len(batches) == math.ceil(len(ds) / 4) and batches[0]["input_ids"].shape == (4, 16)
    shuffled = adapters.get_packed_sft_dataset(tok, sft_file, 16, shuffle=True)
    assert len(shuffled) == len(ds)
    assert any(shuffled[i]["input_ids"].tolist() != ds[i]["input_ids"].tolist() for i in range(len(ds)))


@pytest.mark.needs_data
def test_packed_dataset_on_shared_sample(shared_data):
    tok = make_tokenizer()
    ds = adapters.get_packed_sft_dataset(tok, shared_data / "alignment" / "sft_sample.jsonl", 64, shuffle=False)
    assert len(ds) > 10 and ds[0]["input_ids"].shape == (64,)


def _ref_seq_logprob(model, tok, prompt, response):
    ids = tok.encode(ALPACA.format(p=prompt, r=response)) + [tok.eos_token_id]
    x = torch.tensor([ids])
    logits = model(x).logits[0, :-1].double()
    return torch.log_softmax(logits, -1)[torch.arange(len(ids) - 1), x[0, 1:]].sum()


def test_dpo_loss_log2_reference_and_gradient_step():
    tok = make_tokenizer()
    lm, ref = make_qwen2(len(tok), seed=1), make_qwen2(len(tok), seed=2)
    args = (tok, 0.5, "What is 2 + 3?", "2 + 3 = 5", "2 + 3 = 6")
    same = adapters.run_compute_per_instance_dpo_loss(lm, lm, *args)
    assert abs(same.item() - math.log(2)) < 1e-6
    loss = adapters.run_compute_per_instance_dpo_loss(lm, ref, *args)
    with torch.no_grad():
        margin = (_ref_seq_logprob(lm, tok, *args[2:4]) - _ref_seq_logprob(lm, tok, args[2], args[4])) - (
            _ref_seq_logprob(ref, tok, *args[2:4]) - _ref_seq_logprob(ref, tok, args[2], args[4])
        )
    expected = -torch.nn.functional.logsigmoid(0.5 * margin)
    assert loss.shape == () and abs(loss.item() - expected.item()) < 1e-4
    opt = torch.optim.SGD(lm.parameters(), lr=1e-2)
    loss.backward()
    opt.step()
    after = adapters.run_compute_per_instance_dpo_loss(lm, ref, *args)
    assert after.item() < loss.item()
