"""Rollout engines behind one interface: `native` (assignment-1 models), `hf` (transformers), `vllm` (optional)."""

from cs336_alignment.rollout.base import Completion, RolloutEngine, SamplingParams, TextCodec

ENGINE_NAMES: tuple[str, ...] = ("native", "hf", "vllm")

__all__ = ["ENGINE_NAMES", "Completion", "RolloutEngine", "SamplingParams", "TextCodec", "build_engine"]


def build_engine(name: str, model, tokenizer, **kwargs) -> RolloutEngine:
    """The engine `name` sampling from `model` (for vllm: `kwargs["model_path"]`, a saved copy of the policy)."""
    from cs336_alignment.errors import ConfigError

    if name == "native":
        from cs336_alignment.rollout.native import NativeEngine

        return NativeEngine(model, tokenizer, **kwargs)
    if name == "hf":
        from cs336_alignment.rollout.hf import HFEngine

        return HFEngine(model, tokenizer, **kwargs)
    if name == "vllm":
        from cs336_alignment.rollout.vllm_engine import VLLMEngine

        model_path = kwargs.pop("model_path", None)
        if model_path is None:
            raise ConfigError("the vllm engine needs model_path (a directory vLLM can load)")
        return VLLMEngine(model_path, tokenizer, **kwargs)
    raise ConfigError(f"unknown engine {name!r}; expected one of {', '.join(ENGINE_NAMES)}")
