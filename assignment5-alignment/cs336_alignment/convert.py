"""Export an assignment-1 `TransformerLM` as a Hugging Face `LlamaForCausalLM` computing the same function.

The two architectures match (pre-norm RMSNorm, SwiGLU, RoPE, untied head, no biases) except for RoPE's pair layout:
ours rotates interleaved pairs (x[2j], x[2j+1]), Llama rotates half-split pairs (x[j], x[j + d/2]). Permuting the
rows of every head of q_proj and k_proj by [0, 2, 4, ..., 1, 3, 5, ...] maps one onto the other, and attention
scores are unchanged because q and k get the same permutation. With the export, an assignment-1 policy runs
through HF `generate` (the hf engine, and the baseline of the rollout benchmark) and through vLLM.

    python -c "from cs336_alignment.convert import basics_to_llama; help(basics_to_llama)"
"""

import torch

from cs336_alignment.errors import AlignmentError


def _interleaved_to_half_split(weight: torch.Tensor, num_heads: int) -> torch.Tensor:
    d_head = weight.shape[0] // num_heads
    order = torch.cat([torch.arange(0, d_head, 2), torch.arange(1, d_head, 2)])
    return weight.reshape(num_heads, d_head, -1)[:, order].reshape(weight.shape)


def basics_to_llama(model: torch.nn.Module):
    """A `LlamaForCausalLM` (same dtype and device) whose logits equal `model`'s."""
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = model.config
    unsupported = {
        k: cfg.get(k)
        for k, ok in (("norm_type", "rmsnorm"), ("norm_position", "pre"), ("use_rope", True), ("ffn_type", "swiglu"))
        if cfg.get(k, ok) != ok
    }
    if unsupported:
        raise AlignmentError(f"only the standard pre-norm RoPE SwiGLU model exports to Llama; got {unsupported}")
    param = next(model.parameters())
    llama_cfg = LlamaConfig(
        vocab_size=cfg["vocab_size"],
        hidden_size=cfg["d_model"],
        intermediate_size=cfg["d_ff"],
        num_hidden_layers=cfg["num_layers"],
        num_attention_heads=cfg["num_heads"],
        num_key_value_heads=cfg["num_heads"],
        max_position_embeddings=cfg["context_length"],
        rms_norm_eps=cfg.get("norm_eps", 1e-5),
        rope_theta=cfg["rope_theta"],
        tie_word_embeddings=bool(cfg.get("tie_embeddings", False)),
        attention_bias=False,
        mlp_bias=False,
        torch_dtype=param.dtype,
    )
    src = model.state_dict()
    heads = cfg["num_heads"]
    dst = {
        "model.embed_tokens.weight": src["token_embeddings.weight"],
        "model.norm.weight": src["ln_final.weight"],
        "lm_head.weight": src["lm_head.weight"],
    }
    for i in range(cfg["num_layers"]):
        a, b = f"layers.{i}.", f"model.layers.{i}."
        dst[b + "self_attn.q_proj.weight"] = _interleaved_to_half_split(src[a + "attn.q_proj.weight"], heads)
        dst[b + "self_attn.k_proj.weight"] = _interleaved_to_half_split(src[a + "attn.k_proj.weight"], heads)
        dst[b + "self_attn.v_proj.weight"] = src[a + "attn.v_proj.weight"]
        dst[b + "self_attn.o_proj.weight"] = src[a + "attn.output_proj.weight"]
        dst[b + "mlp.gate_proj.weight"] = src[a + "ffn.w1.weight"]
        dst[b + "mlp.up_proj.weight"] = src[a + "ffn.w3.weight"]
        dst[b + "mlp.down_proj.weight"] = src[a + "ffn.w2.weight"]
        dst[b + "input_layernorm.weight"] = src[a + "ln1.weight"]
        dst[b + "post_attention_layernorm.weight"] = src[a + "ln2.weight"]
    llama = LlamaForCausalLM(llama_cfg).to(device=param.device, dtype=param.dtype)
    llama.load_state_dict(dst, strict=True)
    return llama.eval()
