"""FlashAttention-2 in Triton: one forward kernel and two backward kernels (dQ; dK and dV), no atomics.

Layout: inputs are (B, H, N, d) or (B, N, d) with any strides (no copies); the launch grid's second axis runs over
the flattened B*H and each program offsets its pointers by (b * stride_b + h * stride_h). Head dims that are not
powers of two are padded to D_PAD in registers (masked loads, zero fill, masked stores).

Tricks that matter on Hopper with plain `tl.dot` (portable to A100/B200):
- softmax in base 2: scores are multiplied by scale*log2(e) once, so every exponential is one `exp2`;
- causal split: the key tiles strictly below the diagonal run in an unmasked loop, only the diagonal band (and a
  ragged tail) runs the masked loop; tiles above the diagonal are never visited;
- fp32 running max / sum / accumulators, P cast to the input dtype for the PV and dS matmuls;
- D = rowsum(dO ∘ O) is precomputed once; the dK/dV kernel keeps K_j, V_j resident and streams Q/dO tiles;
- per-head-dim autotuning over a small config space (BLOCK sizes, num_warps, num_stages).
"""

from __future__ import annotations

import math
import os

import torch
import triton
import triton.language as tl
from torch import Tensor

from cs336_systems.errors import ConfigError
from cs336_systems.flash_attention import check_qkv

__all__ = ["FlashAttentionTriton", "flash_attn_forward", "flash_attn_backward"]

LOG2E = 1.4426950408889634
INTERPRET = os.environ.get("TRITON_INTERPRET") == "1"


def _configs(pairs, warps_stages):
    if INTERPRET:  # the interpreter runs every config serially: keep one small one
        return [triton.Config({"BLOCK_M": 32, "BLOCK_N": 16}, num_warps=4, num_stages=1)]
    return [
        triton.Config({"BLOCK_M": bm, "BLOCK_N": bn}, num_warps=w, num_stages=s)
        for bm, bn in pairs
        for w, s in warps_stages
    ]


def _prune(configs, named_args, **kwargs):
    # Keep the shared-memory footprint sane for big head dims / fp32 and avoid tiles much larger than the problem.
    d_pad = named_args["D_PAD"] if "D_PAD" in named_args else kwargs["D_PAD"]
    out = []
    for c in configs:
        bm, bn = c.kwargs["BLOCK_M"], c.kwargs["BLOCK_N"]
        if d_pad >= 128 and bm * bn > 128 * 64 and c.num_stages > 3:
            continue
        out.append(c)
    return out or configs[:1]


FWD_CONFIGS = _configs([(128, 64), (128, 32), (64, 64), (128, 128)], [(4, 3), (8, 3), (8, 4)])
# dK/dV: BLOCK_N key rows stay resident, BLOCK_M query rows stream (BLOCK_N % BLOCK_M == 0).
DKDV_CONFIGS = _configs([(32, 64), (64, 64), (32, 128), (64, 128)], [(4, 3), (8, 3)])
# dQ: BLOCK_M query rows resident, BLOCK_N key rows stream (BLOCK_M % BLOCK_N == 0).
_KEY = ["N_QUERIES", "N_KEYS", "D_PAD", "IS_CAUSAL"]
# Fixed configs (BLOCK_M, BLOCK_N, num_warps, num_stages) used when CS336_FLASH_TUNE=0: no autotuning, one compile
# per shape class (the GPU tests use it; so can short-lived processes).
FIXED = {"fwd": (64, 64, 4, 3), "dkdv": (32, 64, 4, 3), "dq": (64, 32, 4, 3)}
DQ_CONFIGS = _configs([(64, 32), (64, 64), (128, 32), (128, 64)], [(4, 3), (8, 3)])
if INTERPRET:
    DKDV_CONFIGS = [triton.Config({"BLOCK_M": 16, "BLOCK_N": 32}, num_warps=4, num_stages=1)]


# ---------------------------------------------------------------------------------------------------------------
# Forward


@triton.jit
def _fwd_inner(
    acc, l_i, m_i, q, k_ptrs, v_ptrs, stride_kk, stride_vk, offs_m, offs_n, offs_d,
    lo, hi, N_KEYS, qk_scale,
    D: tl.constexpr, D_PAD: tl.constexpr, BLOCK_N: tl.constexpr, MASKED: tl.constexpr, IS_CAUSAL: tl.constexpr,
    EVEN_D: tl.constexpr,
):  # fmt: skip
    k_ptrs += lo * stride_kk
    v_ptrs += lo * stride_vk
    d_ok = offs_d[None, :] < D
    for start_n in range(lo, hi, BLOCK_N):
        cols = start_n + offs_n
        if MASKED:
            kv_mask = (cols[:, None] < N_KEYS) & d_ok
            k = tl.load(k_ptrs, mask=kv_mask, other=0.0)
        elif EVEN_D:  # interior tile, unpadded head dim: no masks at all
            k = tl.load(k_ptrs)
        else:
            k = tl.load(k_ptrs, mask=d_ok, other=0.0)
        s = tl.dot(q, tl.trans(k)) * qk_scale
        if MASKED:
            ok = cols[None, :] < N_KEYS
            if IS_CAUSAL:
                ok = ok & (offs_m[:, None] >= cols[None, :])
            s = tl.where(ok, s, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(s, 1))
        p = tl.math.exp2(s - m_new[:, None])
        alpha = tl.math.exp2(m_i - m_new)
        l_i = l_i * alpha + tl.sum(p, 1)
        if MASKED:
            v = tl.load(v_ptrs, mask=kv_mask, other=0.0)
        elif EVEN_D:
            v = tl.load(v_ptrs)
        else:
            v = tl.load(v_ptrs, mask=d_ok, other=0.0)
        acc = acc * alpha[:, None]
        acc = tl.dot(p.to(v.dtype), v, acc)
        m_i = m_new
        k_ptrs += BLOCK_N * stride_kk
        v_ptrs += BLOCK_N * stride_vk
    return acc, l_i, m_i


@triton.jit
def _flash_fwd_kernel(
    Q_ptr, K_ptr, V_ptr, O_ptr, L_ptr,
    stride_qb, stride_qh, stride_qq, stride_qd,
    stride_kb, stride_kh, stride_kk, stride_kd,
    stride_vb, stride_vh, stride_vk, stride_vd,
    stride_ob, stride_oh, stride_oq, stride_od,
    stride_lb, stride_lh, stride_lq,
    H, N_QUERIES, N_KEYS, scale,
    D: tl.constexpr, D_PAD: tl.constexpr, IS_CAUSAL: tl.constexpr,
    EVEN_Q: tl.constexpr, EVEN_K: tl.constexpr, EVEN_D: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
):  # fmt: skip
    pid_m = tl.program_id(0)
    bh = tl.program_id(1).to(tl.int64)
    b = bh // H
    h = bh % H
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, D_PAD)
    q_ptrs = Q_ptr + b * stride_qb + h * stride_qh + offs_m[:, None] * stride_qq + offs_d[None, :] * stride_qd
    k_ptrs = K_ptr + b * stride_kb + h * stride_kh + offs_n[:, None] * stride_kk + offs_d[None, :] * stride_kd
    v_ptrs = V_ptr + b * stride_vb + h * stride_vh + offs_n[:, None] * stride_vk + offs_d[None, :] * stride_vd
    q_mask = (offs_m[:, None] < N_QUERIES) & (offs_d[None, :] < D)
    if EVEN_Q and EVEN_D:
        q = tl.load(q_ptrs)
    else:
        q = tl.load(q_ptrs, mask=q_mask, other=0.0)

    m_i = tl.full([BLOCK_M], float("-inf"), dtype=tl.float32)
    l_i = tl.zeros([BLOCK_M], dtype=tl.float32)
    acc = tl.zeros([BLOCK_M, D_PAD], dtype=tl.float32)
    qk_scale = scale * 1.4426950408889634  # log2(e): softmax in base 2

    n_full = (N_KEYS // BLOCK_N) * BLOCK_N  # key tiles with no ragged tail
    if IS_CAUSAL:
        unmasked_hi = tl.minimum(pid_m * BLOCK_M, n_full)  # strictly below the diagonal band
        masked_hi = tl.minimum((pid_m + 1) * BLOCK_M, N_KEYS)
    else:
        unmasked_hi = n_full
        masked_hi = N_KEYS
    acc, l_i, m_i = _fwd_inner(
        acc, l_i, m_i, q, k_ptrs, v_ptrs, stride_kk, stride_vk, offs_m, offs_n, offs_d,
        0, unmasked_hi, N_KEYS, qk_scale, D, D_PAD, BLOCK_N, False, IS_CAUSAL, EVEN_D,
    )  # fmt: skip
    acc, l_i, m_i = _fwd_inner(
        acc, l_i, m_i, q, k_ptrs, v_ptrs, stride_kk, stride_vk, offs_m, offs_n, offs_d,
        unmasked_hi, masked_hi, N_KEYS, qk_scale, D, D_PAD, BLOCK_N, True, IS_CAUSAL, EVEN_D,
    )  # fmt: skip

    acc = acc / l_i[:, None]
    lse = (m_i + tl.math.log2(l_i)) * 0.6931471805599453  # back to natural log
    o_ptrs = O_ptr + b * stride_ob + h * stride_oh + offs_m[:, None] * stride_oq + offs_d[None, :] * stride_od
    tl.store(o_ptrs, acc.to(O_ptr.dtype.element_ty), mask=q_mask)
    l_ptrs = L_ptr + b * stride_lb + h * stride_lh + offs_m * stride_lq
    tl.store(l_ptrs, lse, mask=offs_m < N_QUERIES)


# ---------------------------------------------------------------------------------------------------------------
# Backward: dK/dV kernel (key tile resident, query tiles stream) and dQ kernel (query tile resident).


@triton.jit
def _dkdv_inner(
    dk, dv, k, v, q_ptrs, do_ptrs, l_ptrs, dd_ptrs, stride_qq, stride_doq, stride_lq, stride_dq,
    offs_n, offs_m, offs_d, lo, hi, N_QUERIES, qk_scale,
    D: tl.constexpr, BLOCK_M: tl.constexpr, MASKED: tl.constexpr, EVEN_Q: tl.constexpr, EVEN_D: tl.constexpr,
):  # fmt: skip
    d_ok = offs_d[None, :] < D
    for start_m in range(lo, hi, BLOCK_M):
        rows = start_m + offs_m
        r_ok = rows < N_QUERIES
        ld_mask = r_ok[:, None] & d_ok
        if EVEN_Q and EVEN_D:
            q = tl.load(q_ptrs + rows[:, None] * stride_qq)
            do = tl.load(do_ptrs + rows[:, None] * stride_doq)
        else:
            q = tl.load(q_ptrs + rows[:, None] * stride_qq, mask=ld_mask, other=0.0)
            do = tl.load(do_ptrs + rows[:, None] * stride_doq, mask=ld_mask, other=0.0)
        if EVEN_Q:
            lse2 = tl.load(l_ptrs + rows * stride_lq) * 1.4426950408889634
            delta = tl.load(dd_ptrs + rows * stride_dq)
        else:
            lse2 = tl.load(l_ptrs + rows * stride_lq, mask=r_ok, other=0.0) * 1.4426950408889634
            delta = tl.load(dd_ptrs + rows * stride_dq, mask=r_ok, other=0.0)
        # Transposed scores: (BLOCK_N keys) x (BLOCK_M queries).
        s_t = tl.dot(k, tl.trans(q)) * qk_scale
        p_t = tl.math.exp2(s_t - lse2[None, :])
        if MASKED:  # diagonal band: query i sees key j iff i >= j
            p_t = tl.where(rows[None, :] >= offs_n[:, None], p_t, 0.0)
        dv = tl.dot(p_t.to(do.dtype), do, dv)
        dp_t = tl.dot(v, tl.trans(do))
        ds_t = p_t * (dp_t - delta[None, :])
        dk = tl.dot(ds_t.to(q.dtype), q, dk)
    return dk, dv


@triton.jit
def _flash_bwd_dkdv_kernel(
    Q_ptr, K_ptr, V_ptr, DO_ptr, L_ptr, DD_ptr, DK_ptr, DV_ptr,
    stride_qb, stride_qh, stride_qq, stride_qd,
    stride_kb, stride_kh, stride_kk, stride_kd,
    stride_vb, stride_vh, stride_vk, stride_vd,
    stride_dob, stride_doh, stride_doq, stride_dod,
    stride_lb, stride_lh, stride_lq,
    stride_db, stride_dh, stride_dq,
    stride_dkb, stride_dkh, stride_dkk, stride_dkd,
    stride_dvb, stride_dvh, stride_dvk, stride_dvd,
    H, N_QUERIES, N_KEYS, scale,
    D: tl.constexpr, D_PAD: tl.constexpr, IS_CAUSAL: tl.constexpr,
    EVEN_Q: tl.constexpr, EVEN_K: tl.constexpr, EVEN_D: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
):  # fmt: skip
    pid_n = tl.program_id(0)
    bh = tl.program_id(1).to(tl.int64)
    b = bh // H
    h = bh % H
    start_n = pid_n * BLOCK_N
    offs_n = start_n + tl.arange(0, BLOCK_N)
    offs_m = tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, D_PAD)
    kv_mask = (offs_n[:, None] < N_KEYS) & (offs_d[None, :] < D)
    k = tl.load(
        K_ptr + b * stride_kb + h * stride_kh + offs_n[:, None] * stride_kk + offs_d[None, :] * stride_kd,
        mask=kv_mask,
        other=0.0,
    )
    v = tl.load(
        V_ptr + b * stride_vb + h * stride_vh + offs_n[:, None] * stride_vk + offs_d[None, :] * stride_vd,
        mask=kv_mask,
        other=0.0,
    )
    dk = tl.zeros([BLOCK_N, D_PAD], dtype=tl.float32)
    dv = tl.zeros([BLOCK_N, D_PAD], dtype=tl.float32)
    qk_scale = scale * 1.4426950408889634

    q_ptrs = Q_ptr + b * stride_qb + h * stride_qh + offs_d[None, :] * stride_qd
    do_ptrs = DO_ptr + b * stride_dob + h * stride_doh + offs_d[None, :] * stride_dod
    l_ptrs = L_ptr + b * stride_lb + h * stride_lh
    dd_ptrs = DD_ptr + b * stride_db + h * stride_dh
    if IS_CAUSAL:
        # Query tiles in [start_n, start_n + BLOCK_N) straddle the diagonal (masked); later ones are fully visible.
        band_hi = tl.minimum(start_n + BLOCK_N, N_QUERIES)
        dk, dv = _dkdv_inner(
            dk, dv, k, v, q_ptrs, do_ptrs, l_ptrs, dd_ptrs, stride_qq, stride_doq, stride_lq, stride_dq,
            offs_n, offs_m, offs_d, start_n, band_hi, N_QUERIES, qk_scale, D, BLOCK_M, True, EVEN_Q, EVEN_D,
        )  # fmt: skip
        dk, dv = _dkdv_inner(
            dk, dv, k, v, q_ptrs, do_ptrs, l_ptrs, dd_ptrs, stride_qq, stride_doq, stride_lq, stride_dq,
            offs_n, offs_m, offs_d, start_n + BLOCK_N, N_QUERIES, N_QUERIES, qk_scale, D, BLOCK_M, False,
            EVEN_Q, EVEN_D,
        )  # fmt: skip
    else:
        dk, dv = _dkdv_inner(
            dk, dv, k, v, q_ptrs, do_ptrs, l_ptrs, dd_ptrs, stride_qq, stride_doq, stride_lq, stride_dq,
            offs_n, offs_m, offs_d, 0, N_QUERIES, N_QUERIES, qk_scale, D, BLOCK_M, False, EVEN_Q, EVEN_D,
        )  # fmt: skip
    dk = dk * scale
    tl.store(
        DK_ptr + b * stride_dkb + h * stride_dkh + offs_n[:, None] * stride_dkk + offs_d[None, :] * stride_dkd,
        dk.to(DK_ptr.dtype.element_ty),
        mask=kv_mask,
    )
    tl.store(
        DV_ptr + b * stride_dvb + h * stride_dvh + offs_n[:, None] * stride_dvk + offs_d[None, :] * stride_dvd,
        dv.to(DV_ptr.dtype.element_ty),
        mask=kv_mask,
    )


@triton.jit
def _dq_inner(
    dq, q, do, lse2, delta, k_ptrs, v_ptrs, stride_kk, stride_vk, offs_m, offs_n, offs_d,
    lo, hi, N_KEYS, qk_scale,
    D: tl.constexpr, BLOCK_N: tl.constexpr, MASKED: tl.constexpr, EVEN_K: tl.constexpr, EVEN_D: tl.constexpr,
):  # fmt: skip
    d_ok = offs_d[None, :] < D
    for start_n in range(lo, hi, BLOCK_N):
        cols = start_n + offs_n
        if EVEN_K and EVEN_D:
            k = tl.load(k_ptrs + cols[:, None] * stride_kk)
            v = tl.load(v_ptrs + cols[:, None] * stride_vk)
        else:
            kv_mask = (cols[:, None] < N_KEYS) & d_ok
            k = tl.load(k_ptrs + cols[:, None] * stride_kk, mask=kv_mask, other=0.0)
            v = tl.load(v_ptrs + cols[:, None] * stride_vk, mask=kv_mask, other=0.0)
        s = tl.dot(q, tl.trans(k)) * qk_scale
        p = tl.math.exp2(s - lse2[:, None])
        if MASKED:
            p = tl.where(offs_m[:, None] >= cols[None, :], p, 0.0)
        dp = tl.dot(do, tl.trans(v))
        ds = p * (dp - delta[:, None])
        dq = tl.dot(ds.to(k.dtype), k, dq)
    return dq


@triton.jit
def _flash_bwd_dq_kernel(
    Q_ptr, K_ptr, V_ptr, DO_ptr, L_ptr, DD_ptr, DQ_ptr,
    stride_qb, stride_qh, stride_qq, stride_qd,
    stride_kb, stride_kh, stride_kk, stride_kd,
    stride_vb, stride_vh, stride_vk, stride_vd,
    stride_dob, stride_doh, stride_doq, stride_dod,
    stride_lb, stride_lh, stride_lq,
    stride_db, stride_dh, stride_dq,
    stride_dqb, stride_dqh, stride_dqq, stride_dqd,
    H, N_QUERIES, N_KEYS, scale,
    D: tl.constexpr, D_PAD: tl.constexpr, IS_CAUSAL: tl.constexpr,
    EVEN_Q: tl.constexpr, EVEN_K: tl.constexpr, EVEN_D: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
):  # fmt: skip
    pid_m = tl.program_id(0)
    bh = tl.program_id(1).to(tl.int64)
    b = bh // H
    h = bh % H
    start_m = pid_m * BLOCK_M
    offs_m = start_m + tl.arange(0, BLOCK_M)
    offs_n = tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, D_PAD)
    r_ok = offs_m < N_QUERIES
    q_mask = r_ok[:, None] & (offs_d[None, :] < D)
    q = tl.load(
        Q_ptr + b * stride_qb + h * stride_qh + offs_m[:, None] * stride_qq + offs_d[None, :] * stride_qd,
        mask=q_mask,
        other=0.0,
    )
    do = tl.load(
        DO_ptr + b * stride_dob + h * stride_doh + offs_m[:, None] * stride_doq + offs_d[None, :] * stride_dod,
        mask=q_mask,
        other=0.0,
    )
    lse2 = (
        tl.load(L_ptr + b * stride_lb + h * stride_lh + offs_m * stride_lq, mask=r_ok, other=0.0) * 1.4426950408889634
    )
    delta = tl.load(DD_ptr + b * stride_db + h * stride_dh + offs_m * stride_dq, mask=r_ok, other=0.0)
    dq = tl.zeros([BLOCK_M, D_PAD], dtype=tl.float32)
    qk_scale = scale * 1.4426950408889634
    k_ptrs = K_ptr + b * stride_kb + h * stride_kh + offs_d[None, :] * stride_kd
    v_ptrs = V_ptr + b * stride_vb + h * stride_vh + offs_d[None, :] * stride_vd
    if IS_CAUSAL:
        # Out-of-range keys load as zeros and add exactly zero to dQ, so no key-bound mask is needed here.
        lo_band = tl.minimum(start_m, N_KEYS)
        dq = _dq_inner(
            dq, q, do, lse2, delta, k_ptrs, v_ptrs, stride_kk, stride_vk, offs_m, offs_n, offs_d,
            0, lo_band, N_KEYS, qk_scale, D, BLOCK_N, False, EVEN_K, EVEN_D,
        )  # fmt: skip
        dq = _dq_inner(
            dq, q, do, lse2, delta, k_ptrs, v_ptrs, stride_kk, stride_vk, offs_m, offs_n, offs_d,
            lo_band, tl.minimum(start_m + BLOCK_M, N_KEYS), N_KEYS, qk_scale, D, BLOCK_N, True, EVEN_K, EVEN_D,
        )  # fmt: skip
    else:
        dq = _dq_inner(
            dq, q, do, lse2, delta, k_ptrs, v_ptrs, stride_kk, stride_vk, offs_m, offs_n, offs_d,
            0, N_KEYS, N_KEYS, qk_scale, D, BLOCK_N, False, EVEN_K, EVEN_D,
        )  # fmt: skip
    dq = dq * scale
    tl.store(
        DQ_ptr + b * stride_dqb + h * stride_dqh + offs_m[:, None] * stride_dqq + offs_d[None, :] * stride_dqd,
        dq.to(DQ_ptr.dtype.element_ty),
        mask=q_mask,
    )


# ---------------------------------------------------------------------------------------------------------------
# Python launchers


def _as4d(t: Tensor) -> Tensor:
    """A (B, H, N, d) view without copying: 3-D gets a unit head axis, >4-D leading dims are merged (may copy)."""
    if t.ndim == 3:
        return t.unsqueeze(1)
    if t.ndim == 4:
        return t
    if t.ndim == 2:
        return t[None, None]
    return t.reshape(-1, t.shape[-3], t.shape[-2], t.shape[-1])


def _strides(t: Tensor) -> tuple[int, ...]:
    return tuple(t.stride())


def _check(q: Tensor, k: Tensor, v: Tensor) -> None:
    check_qkv(q, k, v)
    if not INTERPRET and not q.is_cuda:
        raise ConfigError("the Triton FlashAttention needs CUDA tensors (or TRITON_INTERPRET=1)")
    if q.shape[-1] > 256:
        raise ConfigError(f"head dim {q.shape[-1]} > 256 is not supported by the Triton FlashAttention")
    if q.dtype not in (torch.float16, torch.bfloat16, torch.float32):
        raise ConfigError(f"unsupported dtype {q.dtype}; expected fp16, bf16 or fp32")


def _launch(name: str, kernels: dict, grid, *args, **kwargs) -> None:
    """Autotuned launch by default; CS336_FLASH_TUNE=0 (or the interpreter) uses the fixed config of FIXED[name]."""
    if INTERPRET or os.environ.get("CS336_FLASH_TUNE", "1") == "0":
        bm, bn, warps, stages = FIXED[name]
        if INTERPRET:
            bm, bn, warps, stages = (16, 32, 4, 1) if name == "dkdv" else (32, 16, 4, 1)
        kernels["jit"][grid](*args, **kwargs, BLOCK_M=bm, BLOCK_N=bn, num_warps=warps, num_stages=stages)
    else:
        kernels["tuned"][grid](*args, **kwargs)


def _flags(n_q: int, n_k: int, d: int, is_causal: bool) -> dict:
    # Lengths that are multiples of the largest tile (128) need no bound masks on loads and stores.
    d_pad = max(16, triton.next_power_of_2(d))
    return dict(
        D=d, D_PAD=d_pad, IS_CAUSAL=bool(is_causal), EVEN_Q=n_q % 128 == 0, EVEN_K=n_k % 128 == 0, EVEN_D=d == d_pad
    )


def flash_attn_forward(q: Tensor, k: Tensor, v: Tensor, is_causal: bool) -> tuple[Tensor, Tensor]:
    """O (q's shape, contiguous) and L (q.shape[:-1], fp32)."""
    _check(q, k, v)
    q4, k4, v4 = _as4d(q), _as4d(k), _as4d(v)
    batch, heads, n_q, d = q4.shape
    n_k = k4.shape[2]
    o = torch.empty(q.shape, dtype=q.dtype, device=q.device)
    lse = torch.empty(q.shape[:-1], dtype=torch.float32, device=q.device)
    o4 = _as4d(o)
    l4 = lse.reshape(batch, heads, n_q)

    def grid(meta):
        return (triton.cdiv(n_q, meta["BLOCK_M"]), batch * heads)

    _launch("fwd", {"jit": _flash_fwd_kernel, "tuned": flash_fwd_kernel}, grid,
        q4, k4, v4, o4, l4, *_strides(q4), *_strides(k4), *_strides(v4), *_strides(o4), *_strides(l4),
        heads, n_q, n_k, 1.0 / math.sqrt(d),
        **_flags(n_q, n_k, d, is_causal),
    )  # fmt: skip
    return o, lse


def flash_attn_backward(
    q: Tensor, k: Tensor, v: Tensor, o: Tensor, do: Tensor, lse: Tensor, is_causal: bool
) -> tuple[Tensor, Tensor, Tensor]:
    q4, k4, v4, do4 = _as4d(q), _as4d(k), _as4d(v), _as4d(do)
    batch, heads, n_q, d = q4.shape
    n_k = k4.shape[2]
    # D = rowsum(dO ∘ O) in fp32, computed once for both kernels.
    delta = (do4.float() * _as4d(o).float()).sum(-1)
    l4 = lse.reshape(batch, heads, n_q)
    dq = torch.empty(q.shape, dtype=q.dtype, device=q.device)
    dk = torch.empty(k.shape, dtype=k.dtype, device=k.device)
    dv = torch.empty(v.shape, dtype=v.dtype, device=v.device)
    dq4, dk4, dv4 = _as4d(dq), _as4d(dk), _as4d(dv)
    common = _flags(n_q, n_k, d, is_causal)
    scale = 1.0 / math.sqrt(d)

    def grid_k(meta):
        return (triton.cdiv(n_k, meta["BLOCK_N"]), batch * heads)

    def grid_q(meta):
        return (triton.cdiv(n_q, meta["BLOCK_M"]), batch * heads)

    _launch("dkdv", {"jit": _flash_bwd_dkdv_kernel, "tuned": flash_bwd_dkdv_kernel}, grid_k,
        q4, k4, v4, do4, l4, delta, dk4, dv4,
        *_strides(q4), *_strides(k4), *_strides(v4), *_strides(do4), *_strides(l4), *_strides(delta),
        *_strides(dk4), *_strides(dv4), heads, n_q, n_k, scale, **common,
    )  # fmt: skip
    _launch("dq", {"jit": _flash_bwd_dq_kernel, "tuned": flash_bwd_dq_kernel}, grid_q,
        q4, k4, v4, do4, l4, delta, dq4,
        *_strides(q4), *_strides(k4), *_strides(v4), *_strides(do4), *_strides(l4), *_strides(delta),
        *_strides(dq4), heads, n_q, n_k, scale, **common,
    )  # fmt: skip
    return dq, dk, dv


class FlashAttentionTriton(torch.autograd.Function):
    """FA2 with Triton forward and backward kernels. Same contract as FlashAttentionPytorch."""

    @staticmethod
    def forward(ctx, Q: Tensor, K: Tensor, V: Tensor, is_causal: bool = False) -> Tensor:
        o, lse = flash_attn_forward(Q, K, V, bool(is_causal))
        ctx.save_for_backward(lse, Q, K, V, o)
        ctx.is_causal = bool(is_causal)
        return o

    @staticmethod
    def backward(ctx, dO: Tensor):
        lse, q, k, v, o = ctx.saved_tensors
        dq, dk, dv = flash_attn_backward(q, k, v, o, dO, lse, ctx.is_causal)
        return dq, dk, dv, None


# Autotuned entry points over the plain jit kernels above (keyed on the shape class).
flash_fwd_kernel = triton.autotune(configs=FWD_CONFIGS, key=_KEY, prune_configs_by={"early_config_prune": _prune})(
    _flash_fwd_kernel
)
flash_bwd_dkdv_kernel = triton.autotune(configs=DKDV_CONFIGS, key=_KEY)(_flash_bwd_dkdv_kernel)
flash_bwd_dq_kernel = triton.autotune(configs=DQ_CONFIGS, key=_KEY)(_flash_bwd_dq_kernel)
