"""Hugging Face rollout engine: `model.generate` with left padding (spec §4.3.2).

Requests are grouped by identical sampling parameters (one `generate` call per group, `num_return_sequences=n`).
Stop strings go to `generate(stop_strings=..., tokenizer=...)`; the continuation is then cut right after the stop
string to emulate vLLM's `include_stop_str_in_output`. A request's `seed` seeds torch's global RNG before its
group's call (HF `generate` draws from it), so seeded results depend on the group composition.

    python -c "from cs336_alignment.rollout.hf import HFEngine; help(HFEngine)"
"""

from collections.abc import Sequence

import torch

from cs336_alignment.errors import AlignmentError
from cs336_alignment.rollout.base import Completion, SamplingParams, TextCodec, per_request_params, truncate_at_stop

DEFAULT_MAX_BATCH_PROMPTS = 64


class HFEngine:
    """Rollouts through `transformers` generation; the model is the policy itself (sync is a no-op) or a replica."""

    def __init__(self, model: torch.nn.Module, tokenizer, *, max_batch_prompts: int = DEFAULT_MAX_BATCH_PROMPTS):
        if not hasattr(model, "generate") or not hasattr(tokenizer, "convert_tokens_to_ids"):
            raise AlignmentError("the hf engine needs a transformers model with .generate and a transformers tokenizer")
        self.model = model
        self.tokenizer = tokenizer
        self.codec = TextCodec(tokenizer)
        self.max_batch_prompts = max_batch_prompts
        self.num_generated_tokens = 0

    def sync_weights(self, policy: torch.nn.Module) -> None:
        if policy is not self.model:
            self.model.load_state_dict(policy.state_dict())

    @torch.inference_mode()
    def generate(
        self, prompts: Sequence[str] | Sequence[list[int]], params: SamplingParams | Sequence[SamplingParams]
    ) -> list[list[Completion]]:
        per_prompt = per_request_params(params, len(prompts))
        prompt_ids = [self.codec.encode(p) if isinstance(p, str) else list(p) for p in prompts]
        groups: dict[SamplingParams, list[int]] = {}
        for i, p in enumerate(per_prompt):
            groups.setdefault(p, []).append(i)
        results: list[list[Completion]] = [[] for _ in prompts]
        was_training = self.model.training
        self.model.eval()
        try:
            for p, indices in groups.items():
                if p.seed is not None:
                    torch.manual_seed(p.seed)
                for start in range(0, len(indices), self.max_batch_prompts):
                    chunk = indices[start : start + self.max_batch_prompts]
                    for i, comps in zip(chunk, self._generate_group([prompt_ids[i] for i in chunk], p)):
                        results[i] = comps
        finally:
            self.model.train(was_training)
        return results

    def _generate_group(self, prompt_ids: list[list[int]], p: SamplingParams) -> list[list[Completion]]:
        device = next(self.model.parameters()).device
        pad_id = self.codec.pad_id
        width = max(len(ids) for ids in prompt_ids)
        input_ids = torch.full((len(prompt_ids), width), pad_id, dtype=torch.long)
        attention_mask = torch.zeros_like(input_ids)
        for row, ids in enumerate(prompt_ids):  # left padding: generation continues from the last column
            input_ids[row, width - len(ids) :] = torch.tensor(ids)
            attention_mask[row, width - len(ids) :] = 1
        kwargs = dict(
            max_new_tokens=p.max_tokens,
            min_new_tokens=p.min_tokens,
            num_return_sequences=p.n,
            pad_token_id=pad_id,
            eos_token_id=self.codec.eos_id,
        )
        if p.temperature > 0:
            kwargs.update(do_sample=True, temperature=p.temperature, top_p=p.top_p, top_k=0)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if p.stop:
            kwargs.update(stop_strings=list(p.stop), tokenizer=self.tokenizer)
        out = self.model.generate(input_ids=input_ids.to(device), attention_mask=attention_mask.to(device), **kwargs)
        new_tokens = out[:, width:].tolist()
        results: list[list[Completion]] = []
        for row, toks in enumerate(new_tokens):
            if row % p.n == 0:
                results.append([])
            finished = False
            if self.codec.eos_id is not None and self.codec.eos_id in toks:
                toks, finished = toks[: toks.index(self.codec.eos_id) + 1], True
            text, toks, stopped = truncate_at_stop(self.codec, toks, p.stop, p.include_stop_str_in_output, p.min_tokens)
            self.num_generated_tokens += len(toks)
            reason = "stop" if finished or stopped else "length"
            results[-1].append(Completion(text=text, token_ids=toks, finish_reason=reason))
        return results
