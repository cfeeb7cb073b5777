"""The whole LM against Hugging Face `LlamaForCausalLM` loaded with the same weights.

Our RoPE rotates interleaved pairs (2j, 2j+1); Llama rotates (j, j + d_k/2). Rotating both Q and K by the same
permutation of each head's dims leaves QKᵀ unchanged, so permuting the q/k projection rows per head from
[0, 1, 2, 3, ...] to [0, 2, 4, ..., 1, 3, 5, ...] maps our weights onto Llama's layout exactly.
"""

import pytest
import torch

from cs336_basics.model import TransformerLM

transformers = pytest.importorskip("transformers")

V, CTX, D, L, H, DFF, THETA, EPS = 101, 24, 48, 2, 4, 80, 500.0, 1e-5


def interleaved_to_half_split(weight: torch.Tensor, num_heads: int) -> torch.Tensor:
    d_out, d_in = weight.shape
    d_k = d_out // num_heads
    perm = torch.cat([torch.arange(0, d_k, 2), torch.arange(1, d_k, 2)])
    return weight.reshape(num_heads, d_k, d_in)[:, perm, :].reshape(d_out, d_in)


def to_llama(model: TransformerLM) -> "transformers.LlamaForCausalLM":
    cfg = model.config
    config = transformers.LlamaConfig(
        vocab_size=cfg["vocab_size"],
        hidden_size=cfg["d_model"],
        intermediate_size=cfg["d_ff"],
        num_hidden_layers=cfg["num_layers"],
        num_attention_heads=cfg["num_heads"],
        num_key_value_heads=cfg["num_heads"],
        max_position_embeddings=cfg["context_length"],
        rms_norm_eps=cfg["norm_eps"],
        rope_parameters={"rope_type": "default", "rope_theta": cfg["rope_theta"]},
        tie_word_embeddings=False,
        attention_bias=False,
        mlp_bias=False,
        hidden_act="silu",
    )
    config._attn_implementation = "eager"
    hf = transformers.LlamaForCausalLM(config).eval()
    sd = model.state_dict()
    h = cfg["num_heads"]
    new = {
        "model.embed_tokens.weight": sd["token_embeddings.weight"],
        "model.norm.weight": sd["ln_final.weight"],
        "lm_head.weight": sd["lm_head.weight"],
    }
    for i in range(cfg["num_layers"]):
        p, q = f"layers.{i}.", f"model.layers.{i}."
        new[q + "self_attn.q_proj.weight"] = interleaved_to_half_split(sd[p + "attn.q_proj.weight"], h)
        new[q + "self_attn.k_proj.weight"] = interleaved_to_half_split(sd[p + "attn.k_proj.weight"], h)
        new[q + "self_attn.v_proj.weight"] = sd[p + "attn.v_proj.weight"]
        new[q + "self_attn.o_proj.weight"] = sd[p + "attn.output_proj.weight"]
        new[q + "input_layernorm.weight"] = sd[p + "ln1.weight"]
        new[q + "post_attention_layernorm.weight"] = sd[p + "ln2.weight"]
        new[q + "mlp.gate_proj.weight"] = sd[p + "ffn.w1.weight"]
        new[q + "mlp.up_proj.weight"] = sd[p + "ffn.w3.weight"]
        new[q + "mlp.down_proj.weight"] = sd[p + "ffn.w2.weight"]
    missing, unexpected = hf.load_state_dict(new, strict=False)
    assert not unexpected and all("rotary" in k for k in missing), (missing, unexpected)
    return hf


@pytest.fixture(scope="module")
def pair():
    torch.manual_seed(0)
    ours = TransformerLM(V, CTX, D, L, H, DFF, THETA, norm_eps=EPS).eval()
    with torch.no_grad():  # non-trivial norm gains so the mapping of every tensor is exercised
        for name, p in ours.named_parameters():
            if name.endswith(("ln1.weight", "ln2.weight", "ln_final.weight")):
                p.add_(torch.randn_like(p) * 0.1)
    return ours, to_llama(ours)


def test_logits_match_llama_fp32(pair):
    ours, hf = pair
    ids = torch.randint(0, V, (3, CTX))
    with torch.no_grad():
        expected = hf(input_ids=ids).logits
        got = ours(ids)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


def test_torch_backend_matches_llama(pair):
    ours, hf = pair
    fast = TransformerLM(**{**ours.config, "attn_backend": "torch"}).eval()
    fast.load_state_dict(ours.state_dict())
    ids = torch.randint(0, V, (2, 17))
    with torch.no_grad():
        torch.testing.assert_close(fast(ids), hf(input_ids=ids).logits, rtol=1e-4, atol=1e-4)


def test_greedy_generation_matches_llama(pair):
    ours, hf = pair
    prompt = torch.randint(0, V, (1, 5))
    with torch.no_grad():
        expected = hf.generate(prompt, max_new_tokens=10, do_sample=False, min_new_tokens=10, pad_token_id=0)
    got = ours.generate(prompt, 10, temperature=0.0)
    assert got.tolist() == expected[:, 5:].tolist()


def test_the_comparison_detects_a_rope_layout_mismatch(pair):
    """Without the q/k row permutation the logits differ: the oracle is sensitive to the RoPE pairing."""
    ours, hf = pair
    unpermuted = to_llama(ours)
    with torch.no_grad():
        for i, layer in enumerate(unpermuted.model.layers):
            layer.self_attn.q_proj.weight.copy_(ours.layers[i].attn.q_proj.weight)
            layer.self_attn.k_proj.weight.copy_(ours.layers[i].attn.k_proj.weight)
        ids = torch.randint(0, V, (2, CTX))
        assert not torch.allclose(unpermuted(input_ids=ids).logits, ours(ids), rtol=1e-3, atol=1e-3)
