"""SFT building blocks (handout §4): tokenisation with response masks, entropy, response log-probs, masked
reductions and the SFT micro-batch step.

Everything here is model-agnostic: a "policy" is any module whose forward maps `input_ids` to logits, either
directly (the assignment-1 `TransformerLM`) or through an output object with `.logits` (Hugging Face causal LMs).
Every returned tensor is float32 (or int64/bool), whatever the model's dtype.
"""

from typing import Any

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor

from cs336_alignment.errors import AlignmentError

# Entropy over a ~152K vocabulary materialises a (B, T, V) fp32 softmax; chunking over rows bounds that copy.
ENTROPY_CHUNK_ROWS = 1024


def tokenize_prompt_and_output(prompt_strs: list[str], output_strs: list[str], tokenizer: Any) -> dict[str, Tensor]:
    """Tokenise prompts and outputs separately, concatenate, right-pad, shift (§1.1).

    Returns exactly `input_ids`, `labels` (int64) and `response_mask` (bool), each `(B, L-1)` where `L` is the
    longest prompt+output. The mask is built from lengths, never from `token != pad_id`, because Qwen's pad id is
    its EOS and a response may legitimately contain EOS.
    """
    if len(prompt_strs) != len(output_strs):
        raise AlignmentError(f"got {len(prompt_strs)} prompts but {len(output_strs)} outputs; they must pair up")
    if not prompt_strs:
        raise AlignmentError("tokenize_prompt_and_output needs at least one prompt/output pair")
    pad_id = tokenizer.pad_token_id
    if pad_id is None:
        pad_id = tokenizer.eos_token_id
    if pad_id is None:
        raise AlignmentError("tokenizer has neither pad_token_id nor eos_token_id; set one before tokenising")
    prompt_ids = [tokenizer.encode(p, add_special_tokens=False) for p in prompt_strs]
    output_ids = [tokenizer.encode(o, add_special_tokens=False) for o in output_strs]
    return pack_prompt_and_output_ids(prompt_ids, output_ids, pad_id)


def pack_prompt_and_output_ids(
    prompt_ids: list[list[int]], output_ids: list[list[int]], pad_id: int
) -> dict[str, Tensor]:
    """The id-level half of `tokenize_prompt_and_output`; RL scores the engine's sampled ids through this directly."""
    lengths = [len(p) + len(o) for p, o in zip(prompt_ids, output_ids)]
    max_len = max(lengths)
    if max_len < 2:
        raise AlignmentError("every prompt+output is shorter than 2 tokens; nothing to predict")
    full = torch.full((len(lengths), max_len), pad_id, dtype=torch.long)
    mask = torch.zeros((len(lengths), max_len), dtype=torch.bool)
    for row, (p, o) in enumerate(zip(prompt_ids, output_ids)):
        full[row, : len(p) + len(o)] = torch.tensor(list(p) + list(o), dtype=torch.long)
        mask[row, len(p) : len(p) + len(o)] = True
    return {"input_ids": full[:, :-1], "labels": full[:, 1:], "response_mask": mask[:, 1:]}


def compute_entropy(logits: Float[Tensor, "... vocab"]) -> Float[Tensor, "..."]:
    """Entropy of softmax(logits) over the last axis, in fp32, as logsumexp(z) - sum(softmax(z) * z).

    Rows are processed in chunks so a bf16 (B, T, V) input never needs a full fp32 copy at once.
    """
    flat = logits.reshape(-1, logits.shape[-1])
    out = torch.empty(flat.shape[0], dtype=torch.float32, device=logits.device)
    for start in range(0, flat.shape[0], ENTROPY_CHUNK_ROWS):
        z = flat[start : start + ENTROPY_CHUNK_ROWS].float()
        lse = torch.logsumexp(z, dim=-1)
        out[start : start + ENTROPY_CHUNK_ROWS] = lse - (torch.softmax(z, dim=-1) * z).sum(dim=-1)
    return out.reshape(logits.shape[:-1])


def model_logits(model: torch.nn.Module, input_ids: Int[Tensor, "batch seq"]) -> Float[Tensor, "batch seq vocab"]:
    """Forward pass that accepts both plain-tensor (assignment-1) and `.logits` (Hugging Face) outputs."""
    out = model(input_ids)
    return out.logits if hasattr(out, "logits") else out


def get_response_log_probs(
    model: torch.nn.Module,
    input_ids: Int[Tensor, "batch seq"],
    labels: Int[Tensor, "batch seq"],
    return_token_entropy: bool = False,
) -> dict[str, Tensor]:
    """Per-token log p(labels[b, t] | input_ids[b, :t+1]) (§1.3); labels are already shifted, so no shift here.

    Returns exactly `{"log_probs"}` or `{"log_probs", "token_entropy"}`, both fp32 `(B, T)`. No masking is done.
    """
    if input_ids.shape != labels.shape:
        raise AlignmentError(f"input_ids {tuple(input_ids.shape)} and labels {tuple(labels.shape)} differ in shape")
    logits = model_logits(model, input_ids).float()
    log_probs = torch.log_softmax(logits, dim=-1).gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    result = {"log_probs": log_probs}
    if return_token_entropy:
        with torch.no_grad():
            result["token_entropy"] = compute_entropy(logits)
    return result


def masked_normalize(
    tensor: Tensor,
    mask: Tensor,
    normalize_constant: float = 1.0,
    dim: int | None = None,
    *,
    constant_normalizer: float | None = None,
) -> Tensor:
    """sum(tensor * mask, dim) / normalize_constant (§1.4); `dim=None` sums everything to a 0-d tensor.

    `constant_normalizer` is accepted as an alias because the handout's length-normalisation example spells it so.
    """
    if constant_normalizer is not None:
        normalize_constant = constant_normalizer
    masked = torch.where(mask.bool(), tensor, torch.zeros_like(tensor))
    total = masked.sum() if dim is None else masked.sum(dim=dim)
    return total / normalize_constant


def masked_mean(tensor: Tensor, mask: Tensor, dim: int | None = None) -> Tensor:
    """sum(tensor * mask, dim) / sum(mask, dim) (§1.5).

    A slice whose mask is all zero gives NaN (plain 0/0): this is the handout's contract, so empty responses must
    be prevented upstream (min_tokens >= 1) rather than hidden here.
    """
    mask_f = mask.to(tensor.dtype) if tensor.is_floating_point() else mask.float()
    masked = torch.where(mask.bool(), tensor, torch.zeros_like(tensor))
    if dim is None:
        return masked.sum() / mask_f.sum()
    return masked.sum(dim=dim) / mask_f.sum(dim=dim)


def sft_microbatch_train_step(
    policy_log_probs: Float[Tensor, "batch seq"],
    response_mask: Bool[Tensor, "batch seq"],
    gradient_accumulation_steps: int,
    normalize_constant: float = 1.0,
) -> tuple[Tensor, dict[str, Tensor]]:
    """Backward the SFT loss of one micro-batch (§1.6) and return (scaled loss, metadata).

    loss = -masked_normalize(log_probs, mask, normalize_constant) / batch / gradient_accumulation_steps. Autograd
    accumulates into the existing `.grad` tensors in place; gradients are never reset here.
    """
    if gradient_accumulation_steps < 1:
        raise AlignmentError(f"gradient_accumulation_steps must be >= 1, got {gradient_accumulation_steps}")
    batch = policy_log_probs.shape[0]
    nll = -masked_normalize(policy_log_probs, response_mask, normalize_constant=normalize_constant, dim=None)
    loss = nll / batch / gradient_accumulation_steps
    loss.backward()
    metadata = {
        "nll_per_example": (nll / batch).detach().float(),
        "num_response_tokens": response_mask.sum().detach(),
    }
    return loss.detach(), metadata


def log_generations(
    prompts: list[str],
    responses: list[str],
    ground_truths: list[str],
    reward_infos: list[dict[str, float]],
    response_lengths: list[int],
    token_entropies: list[float] | None = None,
) -> dict[str, Any]:
    """Summarise a batch of generations for logging (handout problem log_generations).

    Returns per-example records plus averages of reward, entropy and response length, split by correctness.
    """
    records = []
    for i, (prompt, response, gold, info) in enumerate(zip(prompts, responses, ground_truths, reward_infos)):
        rec = {"prompt": prompt, "response": response, "ground_truth": gold, **info, "length": response_lengths[i]}
        if token_entropies is not None:
            rec["mean_token_entropy"] = token_entropies[i]
        records.append(rec)

    def _mean(values: list[float]) -> float:
        return float(sum(values) / len(values)) if values else float("nan")

    correct = [r["length"] for r in records if r.get("reward", 0.0) > 0]
    wrong = [r["length"] for r in records if r.get("reward", 0.0) <= 0]
    summary = {
        "mean_reward": _mean([r.get("reward", 0.0) for r in records]),
        "mean_format_reward": _mean([r.get("format_reward", 0.0) for r in records]),
        "mean_length": _mean([r["length"] for r in records]),
        "mean_length_correct": _mean(correct),
        "mean_length_incorrect": _mean(wrong),
    }
    if token_entropies is not None:
        summary["mean_token_entropy"] = _mean(token_entropies)
    return {"records": records, "summary": summary}
