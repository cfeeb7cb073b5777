"""Native rollout engine: batched KV-cache sampling for assignment-1 `TransformerLM` policies (spec §4.3.2).

How a batch is decoded:
- prompts are left-padded to a common length P; each row keeps its own RoPE positions (0 at its first real token),
  so padding never shifts positions; pad keys are masked out (every query still sees itself, so pad rows stay
  finite instead of NaN);
- a static cache (layers x batch x heads x (P + max_tokens) x d_head) is filled by one batched prefill; every
  decode step then has static shapes: it writes one slot for all rows (at an index held in a device tensor) and
  attends over the whole cache under a mask of the slots written so far. On CUDA the decode step (model forward,
  EOS suppression, sampling, bookkeeping) is captured once per batch as a CUDA graph and replayed, which removes the
  per-step kernel-launch and Python overhead that dominates small models; eager decoding (CPU, or
  `cuda_graphs=False`) runs the same step on the filled prefix of the cache only;
- sampling is inverse-CDF with per-row uniforms drawn up front from each request's own `torch.Generator`, so a
  request with a seed gets the same tokens whatever else is in the batch (up to kernel numerics); temperature 0 is
  argmax; top-p keeps the smallest prefix of the sorted distribution whose mass reaches p;
- EOS is masked and stop strings are ignored until `min_tokens`. The host looks at the sampled tokens only every
  `sync_every` steps (one device->host copy per block, no per-step synchronisation): it replays each row's block
  token by token, ends a row at EOS, at its token budget, or when the decoded tail contains a stop string, and stops
  decoding once every row has ended. Tokens a row sampled after its end are discarded; rows never interact, so the
  result is exactly that of checking after every step. Text (and ids) are cut at the stop string.

    python -c "from cs336_alignment.rollout.native import NativeEngine; help(NativeEngine)"
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from jaxtyping import Float
from torch import Tensor

from cs336_alignment.errors import AlignmentError
from cs336_alignment.rollout.base import Completion, SamplingParams, TextCodec, per_request_params, truncate_at_stop

logger = logging.getLogger(__name__)

DEFAULT_MAX_BATCH_ROWS = 256
DEFAULT_SYNC_EVERY = 8
# Decoding the last few tokens of a row is enough to see a stop string appear; bytes split over tokens may decode
# to nothing, hence the slack.
STOP_WINDOW_SLACK_TOKENS = 8
# CUDA-graph capture runs a few warm-up steps first; shorter generations decode eagerly.
MIN_GRAPH_STEPS = 8


class StaticKVCache:
    """Preallocated keys/values for every layer; `update` is the hook the assignment-1 attention calls.

    Two write modes: contiguous (`slot is None`: the new keys go to `[length, length + T)` and the filled prefix is
    returned, as in the prefill and in the reference incremental loop), or static (`slot` is a 1-element device
    tensor: one key per row goes to that slot and the whole cache is returned; the caller's mask hides unwritten
    slots). Static mode has fixed shapes, so a decode step can be captured as a CUDA graph.
    """

    def __init__(self, num_layers: int, batch: int, num_heads: int, max_len: int, d_head: int, device, dtype) -> None:
        shape = (num_layers, batch, num_heads, max_len, d_head)
        self.k = torch.zeros(shape, device=device, dtype=dtype)
        self.v = torch.zeros(shape, device=device, dtype=dtype)
        self.length = 0  # slots already committed (identical for every row), contiguous mode
        self.slot: Tensor | None = None

    def update(self, layer_idx: int, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        if self.slot is not None:
            self.k[layer_idx].index_copy_(2, self.slot, k)
            self.v[layer_idx].index_copy_(2, self.slot, v)
            return self.k[layer_idx], self.v[layer_idx]
        end = self.length + k.shape[-2]
        self.k[layer_idx, :, :, self.length : end] = k
        self.v[layer_idx, :, :, self.length : end] = v
        return self.k[layer_idx, :, :, :end], self.v[layer_idx, :, :, :end]

    def advance(self, num_slots: int) -> None:
        self.length += num_slots


def sample_tokens(
    logits: Float[Tensor, "batch vocab"],
    temperature: Tensor,
    top_p: Tensor,
    uniforms: Tensor,
    use_top_p: bool | None = None,
) -> Tensor:
    """One token per row by inverse-CDF sampling (fp32); rows with temperature 0 take the argmax.

    `use_top_p=None` checks `top_p < 1` on the data (a host sync); pass a bool to keep the call sync-free (CUDA
    graphs). With `use_top_p=True` rows whose top_p is 1 are unaffected.
    """
    logits = logits.float()
    greedy = temperature <= 0
    probs = torch.softmax(logits / temperature.clamp_min(1e-5).unsqueeze(-1), dim=-1)
    if use_top_p is None:
        use_top_p = bool((top_p < 1).any())
    if use_top_p:
        sorted_p, order = probs.sort(dim=-1, descending=True)
        keep = (sorted_p.cumsum(-1) - sorted_p) < top_p.unsqueeze(-1)  # the top token is always kept
        cdf = (sorted_p * keep).cumsum(-1)
    else:
        order, cdf = None, probs.cumsum(-1)
    target = (uniforms * cdf[:, -1]).unsqueeze(-1)
    choice = torch.searchsorted(cdf, target, right=True).clamp_max(cdf.shape[-1] - 1)
    sampled = (order.gather(-1, choice) if order is not None else choice).squeeze(-1)
    return torch.where(greedy, logits.argmax(-1), sampled)


@dataclass
class _DecodeState:
    """Device tensors a decode step reads and writes (fixed addresses, so the step can be graph-captured)."""

    cache: StaticKVCache
    tokens: Tensor  # (B, 1) the last sampled token
    step: Tensor  # (1,) index (among generated tokens) of the token the next step samples
    lengths: Tensor  # (B,) prompt lengths
    valid: Tensor  # (B, total) real prompt slots and every generated slot
    slots: Tensor  # (total,) arange
    generated: Tensor  # (B, new_len) sampled ids
    uniforms: Tensor  # (B, new_len)
    temperature: Tensor
    top_p: Tensor
    min_tokens: Tensor
    prompt_len: int
    use_top_p: bool


def _last_position_logits(model, ids, positions, cache, mask):
    """Prefill logits of the last prompt position only: the LM head runs on one position per row instead of all
    of them (a (batch x prompt x vocab) tensor that reaches gigabytes for long prompts and large vocabularies)."""
    if hasattr(model, "hidden_states") and hasattr(model, "lm_head"):
        h = model.hidden_states(ids, positions, kv_cache=cache, attn_mask=mask)[:, -1]
        return model.lm_head(h)[..., : model.vocab_size]
    return model(ids, positions, kv_cache=cache, attn_mask=mask)[:, -1]


class NativeEngine:
    """Rollouts from an assignment-1 `TransformerLM` with a static KV cache.

    `model` is sampled from directly (same-device setup: `sync_weights(model)` is a no-op) or is a replica that
    `sync_weights(policy)` refreshes with `load_state_dict` (e.g. a bf16 copy on a second GPU).

    `cuda_graphs` (CUDA only) captures the decode step once per batch and replays it; `sync_every` is how many
    decode steps run between two looks of the host at the sampled tokens (finish checks). Neither changes results.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer,
        *,
        max_batch_rows: int = DEFAULT_MAX_BATCH_ROWS,
        cuda_graphs: bool = True,
        sync_every: int = DEFAULT_SYNC_EVERY,
    ) -> None:
        for attr in ("layers", "context_length"):
            if not hasattr(model, attr):
                raise AlignmentError(f"the native engine needs a cs336_basics TransformerLM; model lacks .{attr}")
        if sync_every < 1:
            raise AlignmentError(f"sync_every must be >= 1, got {sync_every}")
        self.model = model
        self.codec = TextCodec(tokenizer)
        self.max_batch_rows = max_batch_rows
        self.cuda_graphs = cuda_graphs
        self.sync_every = sync_every
        self.num_generated_tokens = 0
        self.num_graph_batches = 0  # batches decoded through a captured graph (for benchmarks and tests)
        self.static_eager = False  # eager decoding through the graph's static-shape step (tests compare the two)
        self._finisher_cache: dict[tuple[str, ...], list[bool]] = {}

    def _stop_finishers(self, stops: tuple[str, ...]) -> list[bool]:
        """Per vocabulary id: can this token be the one that completes a stop string?

        A stop string can only complete on a token whose text contains its last character (or on a token that
        decodes to an incomplete UTF-8 sequence), so the tail decode is skipped for every other token: that
        decode, not the GPU, would otherwise bound decoding speed for large batches.
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
        texts = [p for p in prompts if isinstance(p, str)]
        encoded = iter(self.codec.encode_batch(texts))
        prompt_ids = [next(encoded) if isinstance(p, str) else list(p) for p in prompts]
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

    # -- one batch -------------------------------------------------------------------------------------------------

    def _decode_step(self, st: _DecodeState) -> None:
        """Feed the last token, sample the next one; device work only (no host sync), static shapes."""
        model = self.model
        prev = st.step - 1
        slot = st.prompt_len + prev
        positions = (st.lengths + prev).clamp_max(model.context_length - 1).unsqueeze(1)
        mask = (st.valid & (st.slots <= slot)).unsqueeze(1).unsqueeze(1)  # (B, 1, 1, total)
        st.cache.slot = slot
        logits = model(st.tokens, positions, kv_cache=st.cache, attn_mask=mask)[:, -1]
        st.cache.slot = None
        self._sample_into(st, logits, st.step)
        st.step.add_(1)

    def _decode_step_sliced(self, st: _DecodeState, step: int) -> None:
        """The same step for eager decoding: attends over the filled prefix of the cache only (less work than the
        static step, which must read every slot to keep its shapes fixed)."""
        model = self.model
        slot = st.prompt_len + step - 1
        positions = (st.lengths + (step - 1)).clamp_max(model.context_length - 1).unsqueeze(1)
        st.cache.length, st.cache.slot = slot, None
        logits = model(st.tokens, positions, kv_cache=st.cache, attn_mask=st.valid[:, None, None, : slot + 1])[:, -1]
        self._sample_into(st, logits, st.step)
        st.step.add_(1)

    def _sample_into(self, st: _DecodeState, logits: Tensor, step: Tensor) -> None:
        logits = logits.float()
        eos = self.codec.eos_id
        if eos is not None:
            logits[:, eos] = torch.where(step < st.min_tokens, float("-inf"), logits[:, eos])
        uniforms = st.uniforms.index_select(1, step).squeeze(1)
        nxt = sample_tokens(logits, st.temperature, st.top_p, uniforms, use_top_p=st.use_top_p)
        st.generated.index_copy_(1, step, nxt.unsqueeze(1))
        st.tokens.copy_(nxt.unsqueeze(1))

    def _capture(self, st: _DecodeState):
        """A CUDA graph of one decode step (after warm-up steps on a side stream), or None if capture fails."""
        try:
            stream = torch.cuda.Stream()
            stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(stream):
                for _ in range(3):
                    self._decode_step(st)
            torch.cuda.current_stream().wait_stream(stream)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                self._decode_step(st)
            return graph
        except Exception as exc:  # a model the graph cannot capture still decodes, eagerly
            logger.warning("CUDA graph capture failed (%s); decoding eagerly", exc)
            torch.cuda.synchronize()
            return None

    def _generate_batch(self, rows: list[tuple[int, list[int], SamplingParams, Tensor]]) -> list[Completion]:
        model, codec = self.model, self.codec
        device = next(model.parameters()).device
        dtype = next(model.parameters()).dtype
        batch = len(rows)
        lengths_list = [len(r[1]) for r in rows]
        lengths = torch.tensor(lengths_list, device=device)
        budgets = [min(r[2].max_tokens, model.context_length - len(r[1])) for r in rows]
        prompt_len, new_len = max(lengths_list), max(budgets)
        total = prompt_len + new_len

        pad = prompt_len - lengths  # left padding per row
        slots = torch.arange(total, device=device)
        valid = slots.unsqueeze(0) >= pad.unsqueeze(1)  # (B, total): real tokens (and every generated slot)
        first_layer = model.layers[0].attn
        cache = StaticKVCache(len(model.layers), batch, first_layer.num_heads, total, first_layer.d_k, device, dtype)
        uniforms = torch.zeros(batch, new_len)
        for b, r in enumerate(rows):
            uniforms[b, : budgets[b]] = r[3][: budgets[b]]
        st = _DecodeState(
            cache=cache,
            tokens=torch.zeros(batch, 1, dtype=torch.long, device=device),
            step=torch.ones(1, dtype=torch.long, device=device),
            lengths=lengths,
            valid=valid,
            slots=slots,
            generated=torch.zeros(batch, new_len, dtype=torch.long, device=device),
            uniforms=uniforms.to(device),
            temperature=torch.tensor([r[2].temperature for r in rows], device=device, dtype=torch.float32),
            top_p=torch.tensor([r[2].top_p for r in rows], device=device, dtype=torch.float32),
            min_tokens=torch.tensor([r[2].min_tokens for r in rows], device=device),
            prompt_len=prompt_len,
            use_top_p=any(r[2].top_p < 1 for r in rows),
        )
        graph = None
        if self.cuda_graphs and device.type == "cuda" and new_len >= MIN_GRAPH_STEPS:
            graph = self._capture(st)  # its warm-up steps scribble on slots the prefill and decode overwrite
            st.step.fill_(1)
            self.num_graph_batches += graph is not None

        ids = torch.full((batch, prompt_len), codec.pad_id, dtype=torch.long)
        for b, (_, p_ids, _, _) in enumerate(rows):
            ids[b, prompt_len - len(p_ids) :] = torch.tensor(p_ids)
        ids = ids.to(device)
        positions = (slots[:prompt_len].unsqueeze(0) - pad.unsqueeze(1)).clamp_min(0)
        causal = torch.ones(prompt_len, prompt_len, dtype=torch.bool, device=device).tril()
        eye = torch.eye(prompt_len, dtype=torch.bool, device=device)
        prefill_mask = (causal & valid[:, None, :prompt_len]) | eye  # (B, q, k)
        cache.length, cache.slot = 0, None
        logits = _last_position_logits(model, ids, positions, cache, prefill_mask.unsqueeze(1))
        self._sample_into(st, logits, torch.zeros(1, dtype=torch.long, device=device))

        max_stop = max((len(s) for r in rows for s in r[2].stop), default=0)
        window = max_stop + STOP_WINDOW_SLACK_TOKENS
        finishers = self._stop_finishers(tuple(sorted({s for r in rows for s in r[2].stop})))
        generated: list[list[int]] = [[] for _ in rows]
        reasons: list[str | None] = [None] * batch
        checked = 0  # tokens the host has looked at
        done = 1  # tokens sampled so far (identical for all rows)
        while True:
            block = st.generated[:, checked:done].tolist()  # the only device->host sync of a block
            for b, new_tokens in enumerate(block):
                if reasons[b] is not None:
                    continue
                params = rows[b][2]
                for token in new_tokens:
                    generated[b].append(token)
                    if token == codec.eos_id:
                        reasons[b] = "stop"
                    elif params.stop and len(generated[b]) >= params.min_tokens and finishers[token]:
                        tail = codec.decode(generated[b][-window:])
                        if any(s in tail for s in params.stop):
                            reasons[b] = "stop"
                    if reasons[b] is None and len(generated[b]) >= budgets[b]:
                        reasons[b] = "length"
                    if reasons[b] is not None:
                        break
            checked = done
            if done >= new_len or all(r is not None for r in reasons):
                break
            for _ in range(min(self.sync_every, new_len - done)):
                if graph is not None:
                    graph.replay()
                elif self.static_eager:
                    self._decode_step(st)
                else:
                    self._decode_step_sliced(st, done)
                done += 1

        completions = []
        for b, (_, _, params, _) in enumerate(rows):
            toks = generated[b]
            self.num_generated_tokens += len(toks)
            text, toks, _ = truncate_at_stop(
                codec, toks, params.stop, params.include_stop_str_in_output, params.min_tokens
            )
            completions.append(Completion(text=text, token_ids=toks, finish_reason=reasons[b] or "length"))
        return completions
