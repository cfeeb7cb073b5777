"""get_response_log_probs on a random 2-layer Qwen2 (fp32 and bf16) vs a hand-written log_softmax + gather."""

import torch

from tests import adapters
from tests.tiny import make_qwen2, make_tokenizer


def test_log_probs_and_entropy_match_manual_computation_without_shift():
    tok = make_tokenizer()
    model = make_qwen2(len(tok))
    batch = adapters.run_tokenize_prompt_and_output(
        ["User: Tom has 3 apples", "Sam had 12 coins"], [" <answer> 7 </answer>", " 16"], tok
    )
    out = adapters.run_get_response_log_probs(model, batch["input_ids"], batch["labels"], True)
    assert set(out) == {"log_probs", "token_entropy"}
    with torch.no_grad():
        logits = model(batch["input_ids"]).logits.double()
    lsm = torch.log_softmax(logits, -1)
    b, t = batch["labels"].shape
    expected = torch.stack([torch.stack([lsm[i, j, batch["labels"][i, j]] for j in range(t)]) for i in range(b)])
    diff = (out["log_probs"].double() - expected).abs().max().item()
    assert diff < 1e-5, f"max abs diff {diff:.3e}"
    ent = adapters.run_compute_entropy(logits.float())
    assert (out["token_entropy"] - ent).abs().max().item() < 1e-5
    assert out["log_probs"].shape == (b, t) and out["log_probs"].dtype == torch.float32
    # Shifting again would score labels[t+1] at position t; make sure that is not what we computed.
    shifted = lsm[:, :-1].gather(-1, batch["labels"][:, 1:].unsqueeze(-1)).squeeze(-1)
    assert (out["log_probs"][:, :-1].double() - shifted).abs().max().item() > 1e-3


def test_bf16_model_still_returns_fp32():
    tok = make_tokenizer()
    model = make_qwen2(len(tok)).to(torch.bfloat16)
    batch = adapters.run_tokenize_prompt_and_output(["User: 1 + 2"], [" 3"], tok)
    out = adapters.run_get_response_log_probs(model, batch["input_ids"], batch["labels"], True)
    assert out["log_probs"].dtype == torch.float32 and out["token_entropy"].dtype == torch.float32
    out["log_probs"].detach().cpu().numpy()
