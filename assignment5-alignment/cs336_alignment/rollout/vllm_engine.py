"""vLLM rollout engine (optional, installed by hand on the GPU host): the handout's 2-GPU topology (spec §3.4).

The policy trains on one GPU and a vLLM `LLM` samples on another. Before each rollout or evaluation phase
`sync_weights(policy)` pushes the policy's state dict into vLLM's model. The only version-specific code is
`_load_weights_into_vllm`, which reaches the model through the engine internals of vLLM 0.7.x (V0 engine) and falls
back to `collective_rpc` on newer versions.

    uv pip install 'vllm>=0.7.2'   # then: cs336-alignment grpo --config configs/qwen2.5_math_1.5b_grpo_2gpu.toml
"""

from collections.abc import Sequence
from contextlib import ExitStack
from unittest.mock import patch

import torch

from cs336_alignment.errors import AlignmentError
from cs336_alignment.rollout.base import Completion, SamplingParams, TextCodec, per_request_params

# Not a pyproject extra: each vLLM release pins its own torch, which would drag the whole workspace lock with it.
VLLM_EXTRA_HINT = "install vLLM into this environment on the GPU host (uv pip install 'vllm>=0.7.2'); see the README"


def _import_vllm():
    try:
        import vllm
    except ImportError as exc:
        raise AlignmentError(f"vllm is not installed; {VLLM_EXTRA_HINT}") from exc
    return vllm


def _load_weights_into_vllm(llm, state_dict: dict[str, torch.Tensor]) -> None:
    """Copy policy weights into the engine's model (vLLM 0.7 V0 internals; newer versions via collective_rpc)."""
    engine = llm.llm_engine
    executor = getattr(engine, "model_executor", None)
    worker = getattr(executor, "driver_worker", None)
    if worker is not None:
        worker.model_runner.model.load_weights(state_dict.items())
        return
    items = list(state_dict.items())
    llm.collective_rpc(lambda self: self.model_runner.model.load_weights(items))


class VLLMEngine:
    """A vLLM `LLM` on its own device (e.g. `cuda:1`), refreshed from the policy before each rollout phase."""

    def __init__(
        self, model_path: str, tokenizer, *, device: str = "cuda:1", seed: int = 0, gpu_memory_utilization: float = 0.85
    ) -> None:
        vllm = _import_vllm()
        self.codec = TextCodec(tokenizer)
        self._vllm = vllm
        with ExitStack() as stack:
            # vLLM assumes it owns the process's GPUs; these two patches (as in TRL) let it live on one chosen device.
            stack.enter_context(patch("torch.distributed.get_world_size", return_value=1))
            stack.enter_context(
                patch(
                    "vllm.worker.worker.Worker._assert_memory_footprint_increased_during_profiling", return_value=None
                )
            )
            self.llm = vllm.LLM(
                model=model_path,
                device=device,
                dtype=torch.bfloat16,
                enable_prefix_caching=True,
                gpu_memory_utilization=gpu_memory_utilization,
                seed=seed,
            )
        self.num_generated_tokens = 0

    def sync_weights(self, policy: torch.nn.Module) -> None:
        _load_weights_into_vllm(self.llm, policy.state_dict())

    def generate(
        self, prompts: Sequence[str] | Sequence[list[int]], params: SamplingParams | Sequence[SamplingParams]
    ) -> list[list[Completion]]:
        per_prompt = per_request_params(params, len(prompts))
        vparams = [
            self._vllm.SamplingParams(
                temperature=p.temperature,
                top_p=p.top_p,
                max_tokens=p.max_tokens,
                min_tokens=p.min_tokens,
                n=p.n,
                stop=list(p.stop),
                include_stop_str_in_output=p.include_stop_str_in_output,
                seed=p.seed,
            )
            for p in per_prompt
        ]
        inputs = [p if isinstance(p, str) else {"prompt_token_ids": list(p)} for p in prompts]
        outputs = self.llm.generate(inputs, vparams, use_tqdm=False)
        results = []
        for out in outputs:
            comps = [
                Completion(
                    text=o.text,
                    token_ids=list(o.token_ids),
                    finish_reason="stop" if o.finish_reason == "stop" else "length",
                )
                for o in out.outputs
            ]
            self.num_generated_tokens += sum(len(c.token_ids) for c in comps)
            results.append(comps)
        return results
