"""Direct Preference Optimization: the per-instance loss of the supplement (§1.12).

x ⊕ y is the Alpaca template filled with the prompt and the response (trailing newline stripped) plus the EOS id;
s(model, x ⊕ y) is the summed next-token log-probability of the whole sequence (the prompt terms cancel between the
chosen and the rejected sequence). loss = -log σ(β [(s(π, w) - s(π, l)) - (s(ref, w) - s(ref, l))]). The reference
terms run under no_grad on the reference model's device. Models are used in whatever mode they are in: calling
`.train()` would switch dropout on and make the value random.

    python -c "from cs336_alignment.dpo import per_instance_dpo_loss; help(per_instance_dpo_loss)"
"""

import torch
import torch.nn.functional as F
from torch import Tensor

from cs336_alignment.errors import AlignmentError
from cs336_alignment.instruct.packed import format_alpaca
from cs336_alignment.sft_utils import get_response_log_probs


def preference_sequence(tokenizer, prompt: str, response: str) -> list[int]:
    if tokenizer.eos_token_id is None:
        raise AlignmentError("the tokenizer has no eos_token_id; DPO sequences end with it")
    return tokenizer.encode(format_alpaca(prompt, response)) + [tokenizer.eos_token_id]


def sequence_log_prob(model: torch.nn.Module, ids: list[int]) -> Tensor:
    """Sum over t of log p(ids[t+1] | ids[:t+1]) as a 0-d fp32 tensor on the model's device."""
    device = next(model.parameters()).device
    seq = torch.tensor([ids], dtype=torch.long, device=device)
    return get_response_log_probs(model, seq[:, :-1], seq[:, 1:])["log_probs"].sum()


def per_instance_dpo_loss(
    lm: torch.nn.Module,
    lm_ref: torch.nn.Module,
    tokenizer,
    beta: float,
    prompt: str,
    response_chosen: str,
    response_rejected: str,
) -> Tensor:
    """The DPO loss of one preference pair (0-d, on `lm`'s device)."""
    chosen = preference_sequence(tokenizer, prompt, response_chosen)
    rejected = preference_sequence(tokenizer, prompt, response_rejected)
    device = next(lm.parameters()).device
    with torch.no_grad():
        ref_margin = (sequence_log_prob(lm_ref, chosen) - sequence_log_prob(lm_ref, rejected)).to(device)
    policy_margin = sequence_log_prob(lm, chosen) - sequence_log_prob(lm, rejected)
    return -F.logsigmoid(beta * (policy_margin - ref_margin))
