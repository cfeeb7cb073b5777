"""§1.1-§1.6 against independent re-implementations on small seeded random tensors."""

import math

import pytest
import torch

from cs336_alignment.errors import AlignmentError
from tests import adapters
from tests.tiny import make_tokenizer

SEEDS = [0, 1, 2]
TOL = 1e-6


def _rand(seed: int, b: int = 3, t: int = 12, v: int = 50):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(b, t, v, generator=g) * 3
    mask = torch.rand(b, t, generator=g) > 0.4
    return logits, mask


def _assert_close(actual: torch.Tensor, expected: torch.Tensor, tol: float = TOL) -> None:
    diff = (actual.double() - expected.double()).abs()
    assert torch.allclose(actual.double(), expected.double(), atol=tol, rtol=tol, equal_nan=True), (
        f"max abs diff {diff.max().item():.3e}"
    )


def test_tokenize_worked_example_and_mask_from_lengths():
    tok = make_tokenizer()
    prompts = ["User: Tom has 3 apples", "Hi"]
    outputs = ["<answer> 7 </answer>", "x<|endoftext|>"]  # second output contains the pad/EOS token itself
    out = adapters.run_tokenize_prompt_and_output(prompts, outputs, tok)
    assert set(out) == {"input_ids", "labels", "response_mask"}
    p_ids = [tok.encode(p, add_special_tokens=False) for p in prompts]
    o_ids = [tok.encode(o, add_special_tokens=False) for o in outputs]
    assert tok.eos_token_id in o_ids[1]
    max_len = max(len(p) + len(o) for p, o in zip(p_ids, o_ids))
    for row, (p, o) in enumerate(zip(p_ids, o_ids)):
        full = p + o + [tok.pad_token_id] * (max_len - len(p) - len(o))
        mask = [0] * len(p) + [1] * len(o) + [0] * (max_len - len(p) - len(o))
        assert out["input_ids"][row].tolist() == full[:-1]
        assert out["labels"][row].tolist() == full[1:]
        assert out["response_mask"][row].int().tolist() == mask[1:]
    assert out["input_ids"].dtype == torch.int64 and out["labels"].dtype == torch.int64
    assert out["input_ids"].shape == (2, max_len - 1)


def test_tokenize_rejects_mismatched_lengths():
    with pytest.raises(AlignmentError, match="2 prompts but 1 outputs"):
        adapters.run_tokenize_prompt_and_output(["a", "b"], ["c"], make_tokenizer())


@pytest.mark.parametrize("seed", SEEDS)
def test_entropy_matches_definition(seed):
    logits, _ = _rand(seed)
    p = torch.softmax(logits.double(), -1)
    expected = -(p * torch.log(p)).sum(-1)
    out = adapters.run_compute_entropy(logits)
    assert out.dtype == torch.float32 and out.shape == logits.shape[:-1]
    _assert_close(out, expected, 1e-5)


def test_entropy_bf16_input_is_fp32_and_handles_extreme_logits():
    logits = torch.tensor([[0.0, -1e4, -1e4], [5.0, 5.0, 5.0]])
    out = adapters.run_compute_entropy(logits.bfloat16())
    assert out.dtype == torch.float32
    _assert_close(out, torch.tensor([0.0, math.log(3)]), 1e-4)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("dim", [None, 0, 1, -1])
def test_masked_normalize_and_mean(seed, dim):
    x, mask = _rand(seed)
    x = x[..., 0]
    m = mask.double()
    exp_sum = (x.double() * m).sum() if dim is None else (x.double() * m).sum(dim)
    _assert_close(adapters.run_masked_normalize(x, mask, dim=dim, normalize_constant=3.5), exp_sum / 3.5)
    denom = m.sum() if dim is None else m.sum(dim)
    _assert_close(adapters.run_masked_mean(x, mask, dim=dim), exp_sum / denom)


def test_masked_normalize_alias_and_masked_mean_nan_quirk():
    from cs336_alignment.sft_utils import masked_normalize

    x = torch.arange(6.0).reshape(2, 3)
    mask = torch.tensor([[True, False, True], [False, False, False]])
    _assert_close(masked_normalize(x, mask, constant_normalizer=2.0), torch.tensor(1.0))
    out = adapters.run_masked_mean(x, mask, dim=1)
    assert out[0].item() == 1.0 and torch.isnan(out[1])
    assert torch.isnan(adapters.run_masked_mean(x, torch.zeros_like(mask)))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("constant", [1.0, 42.0])
def test_sft_microbatch_step_formula_and_inplace_accumulation(seed, constant):
    logits, mask = _rand(seed)
    lp = torch.log_softmax(logits, -1)[..., 0].clone().requires_grad_(True)
    k = 4
    loss, meta = adapters.run_sft_microbatch_train_step(lp, mask, k, constant)
    expected = -(lp.detach().double() * mask).sum() / constant / lp.shape[0] / k
    _assert_close(loss, expected)
    grad_ref = lp.grad  # the same object must keep accumulating
    expected_grad = -mask.float() / constant / lp.shape[0] / k
    _assert_close(lp.grad, expected_grad)
    adapters.run_sft_microbatch_train_step(lp, mask, k, constant)
    assert lp.grad is grad_ref
    _assert_close(grad_ref, 2 * expected_grad)
    assert isinstance(meta, dict)


def test_get_response_log_probs_plain_tensor_model():
    class Table(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(11, 11)

        def forward(self, ids):
            return self.emb(ids)

    torch.manual_seed(0)
    model = Table()
    ids = torch.randint(0, 11, (2, 5))
    labels = torch.randint(0, 11, (2, 5))
    out = adapters.run_get_response_log_probs(model, ids, labels, return_token_entropy=True)
    assert set(out) == {"log_probs", "token_entropy"}
    lsm = torch.log_softmax(model.emb.weight.detach().double(), -1)
    _assert_close(out["log_probs"], lsm[ids, labels], 1e-5)
    out2 = adapters.run_get_response_log_probs(model, ids, labels, return_token_entropy=False)
    assert set(out2) == {"log_probs"}


def test_log_generations_summary():
    from cs336_alignment.sft_utils import log_generations

    out = log_generations(
        ["p1", "p2", "p3"],
        ["r1", "r2", "r3"],
        ["1", "2", "3"],
        [
            {"reward": 1.0, "format_reward": 1.0},
            {"reward": 0.0, "format_reward": 1.0},
            {"reward": 0.0, "format_reward": 0.0},
        ],
        [10, 20, 30],
        token_entropies=[0.5, 1.0, 1.5],
    )
    s = out["summary"]
    assert s["mean_reward"] == pytest.approx(1 / 3) and s["mean_format_reward"] == pytest.approx(2 / 3)
    assert s["mean_length_correct"] == 10 and s["mean_length_incorrect"] == 25 and s["mean_token_entropy"] == 1.0
    assert len(out["records"]) == 3 and out["records"][1]["length"] == 20
