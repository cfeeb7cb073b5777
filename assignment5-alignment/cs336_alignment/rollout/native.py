"""Native rollout engine: batched KV-cache sampling for assignment-1 `TransformerLM` policies (spec §4.3.2).

How a batch is decoded:
- prompts are left-padded to a common length P; each row keeps its own RoPE positions (0 at its first real token),
  so padding never shifts positions; pad keys are masked out (every query still sees itself, so pad rows stay
  finite instead of NaN);
- a static cache (layers x batch x heads x (P + max_tokens) x d_head) is filled by one prefill, then every decode
  step writes one slot for all rows at once;
- sampling is inverse-CDF with per-row uniforms drawn up front from each request's own `torch.Generator`, so a
  request with a seed gets the same tokens whatever else is in the batch (up to kernel numerics); temperature 0 is
  argmax; top-p keeps the smallest prefix of the sorted distribution whose mass reaches p;
- EOS is masked and stop strings are ignored until `min_tokens`; stop strings are detected on the decoded tail of
  each row, then text (and ids) are cut at the stop string; finished rows are frozen and the loop ends when all are.

    python -c "from cs336_alignment.rollout.native import NativeEngine; help(NativeEngine)"
"""

from collections.abc import Sequence

import torch
from jaxtyping import Float
from torch import Tensor

from cs336_alignment.errors import AlignmentError
from cs336_alignment.rollout.base import Completion, SamplingParams, TextCodec, per_request_params, truncate_at_stop

DEFAULT_MAX_BATCH_ROWS = 256
# Decoding the last few tokens of a row is enough to see a stop string appear; bytes split over tokens may decode
# to nothing, hence the slack.
STOP_WINDOW_SLACK_TOKENS = 8


class StaticKVCache:
    """Preallocated keys/values for every layer; `update` is the hook the assignment-1 attention calls."""

    def __init__(self, num_layers: int, batch: int, num_heads: int, max_len: int, d_head: int, device, dtype) -> None:
        shape = (num_layers, batch, num_heads, max_len, d_head)
        self.k = torch.zeros(shape, device=device, dtype=dtype)
        self.v = torch.zeros(shape, device=device, dtype=dtype)
        self.length = 0  # slots already committed (identical for every row)

    def update(self, layer_idx: int, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        end = self.length + k.shape[-2]
        self.k[layer_idx, :, :, self.length : end] = k
        self.v[layer_idx, :, :, self.length : end] = v
        return self.k[layer_idx, :, :, :end], self.v[layer_idx, :, :, :end]

    def advance(self, num_slots: int) -> None:
        self.length += num_slots


def sample_tokens(logits: Float[Tensor, "batch vocab"], temperature: Tensor, top_p: Tensor, uniforms: Tensor) -> Tensor:
    """One token per row by inverse-CDF sampling (fp32); rows with temperature 0 take the argmax."""
    logits = logits.float()
    greedy = temperature <= 0
    probs = torch.softmax(logits / temperature.clamp_min(1e-5).unsqueeze(-1), dim=-1)
    if bool((top_p < 1).any()):
        sorted_p, order = probs.sort(dim=-1, descending=True)
        keep = (sorted_p.cumsum(-1) - sorted_p) < top_p.unsqueeze(-1)  # the top token is always kept
        cdf = (sorted_p * keep).cumsum(-1)
    else:
        order, cdf = None, probs.cumsum(-1)
    target = (uniforms * cdf[:, -1]).unsqueeze(-1)
    choice = torch.searchsorted(cdf, target, right=True).clamp_max(cdf.shape[-1] - 1)
    sampled = (order.gather(-1, choice) if order is not None else choice).squeeze(-1)
    return torch.where(greedy, logits.argmax(-1), sampled)


class NativeEngine:
    """Rollouts from an assignment-1 `TransformerLM` with a static KV cache.

    `model` is sampled from directly (same-device setup: `sync_weights(model)` is a no-op) or is a replica that
    `sync_weights(policy)` refreshes with `load_state_dict` (e.g. a bf16 copy on a second GPU).
    """

    def __init__(self, model: torch.nn.Module, tokenizer, *, max_batch_rows: int = DEFAULT_MAX_BATCH_ROWS) -> None:
        for attr in ("layers", "context_length"):
            if not hasattr(model, attr):
                raise AlignmentError(f"the native engine needs a cs336_basics TransformerLM; model lacks .{attr}")
        self.model = model
        self.codec = TextCodec(tokenizer)
        self.max_batch_rows = max_batch_rows
        self.num_generated_tokens = 0
        self._finisher_cache: dict[tuple[str, ...], list[bool]] = {}

    def _stop_finishers(self, stops: tuple[str, ...]) -> list[bool]:
        """Per vocabulary id: can this token be the one that completes a stop string?

        A stop string can only complete on a token whose text contains its last character (or on a token that
        decodes to an incomplete UTF-8 sequence), so the per-step tail decode is skipped for every other token:
        that decode, not the GPU, would otherwise bound decoding speed for large batches.
        """
        if stops not in self._finisher_cache:
            last_chars = {s[-1] for s in stops}
            vocab = self.model.lm_head.weight.shape[0] if hasattr(self.model, "lm_head") else self.model.vocab_size
            texts = [self.codec.decode([i]) for i in range(vocab)]
            self._finisher_cache[stops] = [any(c in t for c in last_chars) or "\ufffd" in t for t in texts]
        return self._finisher_cache[stops]

    def sync_weights(self, policy: torch.nn.Module) -> None:
        if policy is not self.model:
            self.model.load_state_dict(policy.state_dict())

    @torch.inference_mode()
    def generate(
        self, prompts: Sequence[str] | Sequence[list[int]], params: SamplingParams | Sequence[SamplingParams]
    ) -> list[list[Completion]]:
        per_prompt = per_request_params(params, len(prompts))
        prompt_ids = [self.codec.encode(p) if isinstance(p, str) else list(p) for p in prompts]
        rows: list[tuple[int, list[int], SamplingParams, Tensor]] = []
        for i, (ids, p) in enumerate(zip(prompt_ids, per_prompt)):
            if not ids:
                raise AlignmentError(f"prompt {i} encodes to no tokens; the engine needs at least one")
            if len(ids) >= self.model.context_length:
                raise AlignmentError(
                    f"prompt {i} has {len(ids)} tokens; the model's context length is {self.model.context_length}"
                )
            gen = torch.Generator()
            gen.manual_seed(p.seed if p.seed is not None else int(torch.randint(0, 2**62, (1,)).item()))
            uniforms = torch.rand(p.n, p.max_tokens, generator=gen)
            rows += [(i, ids, p, uniforms[j]) for j in range(p.n)]
        results: list[list[Completion]] = [[] for _ in prompts]
        was_training = self.model.training
        self.model.eval()
        try:
            for start in range(0, len(rows), self.max_batch_rows):
                chunk = rows[start : start + self.max_batch_rows]
                for (i, *_), completion in zip(chunk, self._generate_batch(chunk)):
                    results[i].append(completion)
        finally:
            self.model.train(was_training)
        return results

    def _generate_batch(self, rows: list[tuple[int, list[int], SamplingParams, Tensor]]) -> list[Completion]:
        model, codec = self.model, self.codec
        device = next(model.parameters()).device
        dtype = next(model.parameters()).dtype
        batch = len(rows)
        lengths = torch.tensor([len(r[1]) for r in rows], device=device)
        budgets = [min(r[2].max_tokens, model.context_length - len(r[1])) for r in rows]
        prompt_len, new_len = int(lengths.max()), max(budgets)
        total = prompt_len + new_len

        ids = torch.full((batch, prompt_len), codec.pad_id, dtype=torch.long, device=device)
        for b, (_, p_ids, _, _) in enumerate(rows):
            ids[b, prompt_len - len(p_ids) :] = torch.tensor(p_ids, device=device)
        pad = prompt_len - lengths  # left padding per row
        slots = torch.arange(total, device=device)
        valid = slots.unsqueeze(0) >= pad.unsqueeze(1)  # (B, total): real tokens (and every generated slot)
        positions = (slots[:prompt_len].unsqueeze(0) - pad.unsqueeze(1)).clamp_min(0)
        causal = torch.ones(prompt_len, prompt_len, dtype=torch.bool, device=device).tril()
        eye = torch.eye(prompt_len, dtype=torch.bool, device=device)
        prefill_mask = (causal & valid[:, None, :prompt_len]) | eye  # (B, q, k)

        first_layer = model.layers[0].attn
        cache = StaticKVCache(len(model.layers), batch, first_layer.num_heads, total, first_layer.d_k, device, dtype)
        logits = model(ids, positions, kv_cache=cache, attn_mask=prefill_mask.unsqueeze(1))[:, -1]
        cache.advance(prompt_len)

        temperature = torch.tensor([r[2].temperature for r in rows], device=device, dtype=torch.float32)
        top_p = torch.tensor([r[2].top_p for r in rows], device=device, dtype=torch.float32)
        min_tokens = torch.tensor([r[2].min_tokens for r in rows], device=device)
        uniforms = torch.zeros(batch, new_len)
        for b, r in enumerate(rows):
            uniforms[b, : budgets[b]] = r[3][: budgets[b]]
        uniforms = uniforms.to(device)
        max_stop = max((len(s) for r in rows for s in r[2].stop), default=0)
        window = max_stop + STOP_WINDOW_SLACK_TOKENS
        finishers = self._stop_finishers(tuple(sorted({s for r in rows for s in r[2].stop})))

        generated: list[list[int]] = [[] for _ in rows]
        reasons: list[str | None] = [None] * batch
        for step in range(new_len):
            if codec.eos_id is not None:
                logits[step < min_tokens, codec.eos_id] = float("-inf")
            next_tokens = sample_tokens(logits, temperature, top_p, uniforms[:, step])
            for b, token in enumerate(next_tokens.tolist()):
                if reasons[b] is not None:
                    continue
                generated[b].append(token)
                params = rows[b][2]
                if token == codec.eos_id:
                    reasons[b] = "stop"
                elif params.stop and len(generated[b]) >= params.min_tokens and finishers[token]:
                    tail = codec.decode(generated[b][-window:])
                    if any(s in tail for s in params.stop):
                        reasons[b] = "stop"
                if reasons[b] is None and len(generated[b]) >= budgets[b]:
                    reasons[b] = "length"
            if all(r is not None for r in reasons):
                break
            # Finished rows keep being fed (frozen); clamp so their positions stay inside the RoPE table.
            step_pos = (lengths + step).clamp_max(model.context_length - 1).unsqueeze(1)
            step_mask = valid[:, None, None, : prompt_len + step + 1]
            logits = model(next_tokens.unsqueeze(1), step_pos, kv_cache=cache, attn_mask=step_mask)[:, -1]
            cache.advance(1)

        completions = []
        for b, (_, _, params, _) in enumerate(rows):
            toks = generated[b]
            self.num_generated_tokens += len(toks)
            text, toks, _ = truncate_at_stop(
                codec, toks, params.stop, params.include_stop_str_in_output, params.min_tokens
            )
            completions.append(Completion(text=text, token_ids=toks, finish_reason=reasons[b] or "length"))
        return completions
