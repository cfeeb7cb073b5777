"""Independent test-only oracle for the Transformer LM, written with torch.nn.functional.

Shares no code with cs336_basics: F.linear, F.embedding, F.rms_norm, F.silu, F.scaled_dot_product_attention and
a RoPE written with complex numbers (z = x[2j] + i·x[2j+1] multiplied by e^{i·pos·ω_j}).
"""

import torch
import torch.nn.functional as F


def rope_complex(x: torch.Tensor, positions: torch.Tensor, theta: float) -> torch.Tensor:
    """Interleaved RoPE via complex multiplication; x (..., T, d), positions broadcastable to (..., T)."""
    d = x.shape[-1]
    freqs = 1.0 / (theta ** (torch.arange(0, d, 2, dtype=torch.float64) / d))
    angles = positions.to(torch.float64).unsqueeze(-1) * freqs  # (..., T, d/2)
    rot = torch.polar(torch.ones_like(angles), angles)
    z = torch.view_as_complex(x.to(torch.float64).reshape(*x.shape[:-1], d // 2, 2).contiguous())
    out = torch.view_as_real(z * rot).reshape(*torch.broadcast_shapes(z.shape, rot.shape)[:-1], d)
    return out.to(x.dtype)


def attention(x, wq, wk, wv, wo, num_heads, theta=None, positions=None):
    *batch, t, d = x.shape
    dk = d // num_heads

    def heads(w):
        return F.linear(x, w).reshape(*batch, t, num_heads, dk).transpose(-3, -2)

    q, k, v = heads(wq), heads(wk), heads(wv)
    if theta is not None:
        pos = torch.arange(t) if positions is None else positions
        pos = pos.unsqueeze(-2)  # head axis
        q, k = rope_complex(q, pos, theta), rope_complex(k, pos, theta)
    out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    return F.linear(out.transpose(-3, -2).reshape(*batch, t, d), wo)


def swiglu(x, w1, w2, w3):
    return F.linear(F.silu(F.linear(x, w1)) * F.linear(x, w3), w2)


def block(x, sd, prefix, num_heads, theta, eps=1e-5, positions=None):
    def w(name):
        return sd[prefix + name]

    d = x.shape[-1]
    h = F.rms_norm(x, (d,), w("ln1.weight"), eps)
    x = x + attention(
        h,
        w("attn.q_proj.weight"),
        w("attn.k_proj.weight"),
        w("attn.v_proj.weight"),
        w("attn.output_proj.weight"),
        num_heads,
        theta,
        positions,
    )
    h = F.rms_norm(x, (d,), w("ln2.weight"), eps)
    return x + swiglu(h, w("ffn.w1.weight"), w("ffn.w2.weight"), w("ffn.w3.weight"))


def transformer_lm(ids, sd, num_layers, num_heads, theta, eps=1e-5):
    x = F.embedding(ids, sd["token_embeddings.weight"])
    for i in range(num_layers):
        x = block(x, sd, f"layers.{i}.", num_heads, theta, eps)
    x = F.rms_norm(x, (x.shape[-1],), sd["ln_final.weight"], eps)
    return F.linear(x, sd["lm_head.weight"])


def random_lm_state(vocab, d, num_layers, d_ff, seed=0, scale=0.2):
    """A seeded random state dict in the spec's key layout (norm gains random too, so they are tested)."""
    g = torch.Generator().manual_seed(seed)

    def r(*shape, s=scale):
        return torch.randn(*shape, generator=g) * s

    sd = {"token_embeddings.weight": r(vocab, d, s=1.0), "ln_final.weight": 1 + r(d), "lm_head.weight": r(vocab, d)}
    for i in range(num_layers):
        p = f"layers.{i}."
        for name in ("q_proj", "k_proj", "v_proj", "output_proj"):
            sd[p + f"attn.{name}.weight"] = r(d, d)
        sd[p + "ln1.weight"] = 1 + r(d)
        sd[p + "ln2.weight"] = 1 + r(d)
        sd[p + "ffn.w1.weight"] = r(d_ff, d)
        sd[p + "ffn.w3.weight"] = r(d_ff, d)
        sd[p + "ffn.w2.weight"] = r(d, d_ff)
    return sd
