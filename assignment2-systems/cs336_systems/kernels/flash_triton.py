"""FlashAttention-2 in Triton: one forward kernel and two backward kernels (dQ; dK and dV), no atomics.

Layout: inputs are (B, H, N, d) or (B, N, d) with any strides (no copies); the launch grid's second axis runs over
the flattened B*H and each program offsets its pointers by (b * stride_b + h * stride_h). Head dims that are not
powers of two are padded to D_PAD in registers (masked loads, zero fill, masked stores).

Tricks that matter (plain `tl.dot`, portable to A100/H100/B200):
- softmax in base 2: the log2(e)/sqrt(d) scale is folded into one fused multiply-add with the running max, so each
  score costs one FMA and one `exp2`;
- causal split: the key tiles strictly below the diagonal run in an unmasked loop, only the diagonal band (and a
  ragged tail) runs the masked loop; tiles above the diagonal are never visited;
- causal scheduling: query tiles are launched longest-first (the last query tile sees every key), so the short
  tiles fill the tail of the launch instead of the long ones;
- fp32 running max / sum / accumulators, P cast to the input dtype for the PV and dS matmuls;
- the dQ kernel runs first and also computes D = rowsum(dO ∘ O) for its rows (stored for the dK/dV kernel), so the
  backward is two launches and no extra pass over O and dO;
- on GPUs with the tensor memory accelerator (compute capability >= 9: H100, B200) 16-bit inputs whose strides
  allow it can be read through TMA tensor descriptors (a 4-D descriptor over (B, H, N, d), so real strides still
  need no copy; out-of-range rows and padded head-dim columns arrive as zeros); by default only where it measured
  faster (`_default_tma`), pointer loads elsewhere (and always on A100, for fp32 and for odd strides);
- per-head-dim autotuning over a small config space (BLOCK sizes, num_warps, num_stages) measured on an H100;
- host side: after the first launch with a given signature, the compiled kernel is called directly (no autotuner
  or argument binding per call), which halves the host time of a forward + backward on short sequences.
"""

from __future__ import annotations

import functools
import math
import os
from typing import NamedTuple

import torch
import triton
import triton.language as tl
from torch import Tensor
from triton.runtime.errors import OutOfResources

from cs336_systems.errors import ConfigError
from cs336_systems.flash_attention import check_qkv

try:  # triton >= 3.3
    from triton.tools.tensor_descriptor import TensorDescriptor
except ImportError:  # pragma: no cover - older triton: pointer loads only
    TensorDescriptor = None

__all__ = ["FlashAttentionTriton", "flash_attn_forward", "flash_attn_backward"]

LOG2E = 1.4426950408889634
INTERPRET = os.environ.get("TRITON_INTERPRET") == "1"
MAX_BLOCK = 256  # largest tile along a sequence axis in any config (EVEN_* flags are relative to it)


# ---------------------------------------------------------------------------------------------------------------
# Tile loads: one helper for TMA descriptors and for pointers.


@triton.jit
def _load_tile(
    src, b, h, row0, offs_r, offs_d, stride_r, stride_d, n_rows,
    D: tl.constexpr, BLOCK: tl.constexpr, D_PAD: tl.constexpr,
    MASK_ROWS: tl.constexpr, EVEN_D: tl.constexpr, TMA: tl.constexpr,
):  # fmt: skip
    """Rows [row0, row0 + BLOCK) x head dim [0, D_PAD) of one (b, h) slice, zeros outside the tensor.

    `src` is a 4-D TMA descriptor over (B, H, N, d) when TMA, else a pointer already offset to the (b, h) slice."""
    if TMA:
        t = src.load([b, h, row0, 0]).reshape(BLOCK, D_PAD)
    else:
        rows = row0 + offs_r
        ptrs = src + rows[:, None] * stride_r + offs_d[None, :] * stride_d
        if MASK_ROWS:
            t = tl.load(ptrs, mask=(rows[:, None] < n_rows) & (offs_d[None, :] < D), other=0.0)
        elif EVEN_D:
            t = tl.load(ptrs)
        else:
            t = tl.load(ptrs, mask=offs_d[None, :] < D, other=0.0)
    return t


@triton.jit
def _program(H, LONGEST_FIRST: tl.constexpr):
    """(tile index on the launch's first axis, b, h) of this program. LONGEST_FIRST reverses the tile order."""
    if LONGEST_FIRST:
        pid = tl.num_programs(0) - 1 - tl.program_id(0)
    else:
        pid = tl.program_id(0)
    bh = tl.program_id(1)
    return pid, bh // H, bh % H


@triton.jit
def _slice(ptr, b, h, stride_b, stride_h):
    """Pointer to the (b, h) slice of a (B, H, ...) tensor, with 64-bit offsets."""
    return ptr + b.to(tl.int64) * stride_b + h.to(tl.int64) * stride_h


# ---------------------------------------------------------------------------------------------------------------
# Forward


@triton.jit
def _fwd_inner(
    acc, l_i, m_i, q, k_src, v_src, b, h, stride_kk, stride_kd, stride_vk, stride_vd, offs_m, offs_n, offs_d,
    lo, hi, N_KEYS, qk_scale,
    D: tl.constexpr, D_PAD: tl.constexpr, BLOCK_N: tl.constexpr, MASKED: tl.constexpr, IS_CAUSAL: tl.constexpr,
    EVEN_D: tl.constexpr, TMA: tl.constexpr,
):  # fmt: skip
    for start_n in range(lo, hi, BLOCK_N):
        start_n = tl.multiple_of(start_n, BLOCK_N)
        k = _load_tile(k_src, b, h, start_n, offs_n, offs_d, stride_kk, stride_kd, N_KEYS,
                       D, BLOCK_N, D_PAD, MASKED, EVEN_D, TMA)  # fmt: skip
        s = tl.dot(q, tl.trans(k))
        if MASKED:
            cols = start_n + offs_n
            ok = cols[None, :] < N_KEYS
            if IS_CAUSAL:
                ok = ok & (offs_m[:, None] >= cols[None, :])
            s = tl.where(ok, s * qk_scale, float("-inf"))
            m_new = tl.maximum(m_i, tl.max(s, 1))
            p = tl.math.exp2(s - m_new[:, None])
        else:  # scale and max subtraction in one FMA per score (qk_scale > 0 commutes with max)
            m_new = tl.maximum(m_i, tl.max(s, 1) * qk_scale)
            p = tl.math.exp2(s * qk_scale - m_new[:, None])
        alpha = tl.math.exp2(m_i - m_new)
        l_i = l_i * alpha + tl.sum(p, 1)
        v = _load_tile(v_src, b, h, start_n, offs_n, offs_d, stride_vk, stride_vd, N_KEYS,
                       D, BLOCK_N, D_PAD, MASKED, EVEN_D, TMA)  # fmt: skip
        acc = acc * alpha[:, None]
        acc = tl.dot(p.to(v.dtype), v, acc)
        m_i = m_new
    return acc, l_i, m_i


@triton.jit
def _flash_fwd_kernel(
    Q, K, V, O_ptr, L_ptr,
    stride_qb, stride_qh, stride_qq, stride_qd,
    stride_kb, stride_kh, stride_kk, stride_kd,
    stride_vb, stride_vh, stride_vk, stride_vd,
    stride_ob, stride_oh, stride_oq, stride_od,
    stride_lb, stride_lh, stride_lq,
    H, N_QUERIES, N_KEYS, scale,
    D: tl.constexpr, D_PAD: tl.constexpr, IS_CAUSAL: tl.constexpr,
    EVEN_Q: tl.constexpr, EVEN_K: tl.constexpr, EVEN_D: tl.constexpr, TMA: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
):  # fmt: skip
    tl.static_assert(BLOCK_M % BLOCK_N == 0 or not IS_CAUSAL, "causal tiles need BLOCK_M % BLOCK_N == 0")
    pid_m, b, h = _program(H, IS_CAUSAL)  # causal: longest query tiles first
    start_m = pid_m * BLOCK_M
    offs_m = start_m + tl.arange(0, BLOCK_M)
    offs_n = tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, D_PAD)
    q_src = Q if TMA else _slice(Q, b, h, stride_qb, stride_qh)  # descriptors take (b, h) coordinates instead
    k_src = K if TMA else _slice(K, b, h, stride_kb, stride_kh)
    v_src = V if TMA else _slice(V, b, h, stride_vb, stride_vh)
    q = _load_tile(q_src, b, h, start_m, tl.arange(0, BLOCK_M), offs_d, stride_qq, stride_qd, N_QUERIES,
                   D, BLOCK_M, D_PAD, not EVEN_Q, EVEN_D, TMA)  # fmt: skip

    m_i = tl.full([BLOCK_M], float("-inf"), dtype=tl.float32)
    l_i = tl.zeros([BLOCK_M], dtype=tl.float32)
    acc = tl.zeros([BLOCK_M, D_PAD], dtype=tl.float32)
    qk_scale = scale * 1.4426950408889634  # log2(e): softmax in base 2

    n_full = (N_KEYS // BLOCK_N) * BLOCK_N  # key tiles with no ragged tail
    if IS_CAUSAL:
        unmasked_hi = tl.minimum(start_m, n_full)  # strictly below the diagonal band
        masked_hi = tl.minimum(start_m + BLOCK_M, N_KEYS)
    else:
        unmasked_hi = n_full
        masked_hi = N_KEYS
    acc, l_i, m_i = _fwd_inner(
        acc, l_i, m_i, q, k_src, v_src, b, h, stride_kk, stride_kd, stride_vk, stride_vd, offs_m, offs_n, offs_d,
        0, unmasked_hi, N_KEYS, qk_scale, D, D_PAD, BLOCK_N, False, IS_CAUSAL, EVEN_D, TMA,
    )  # fmt: skip
    acc, l_i, m_i = _fwd_inner(
        acc, l_i, m_i, q, k_src, v_src, b, h, stride_kk, stride_kd, stride_vk, stride_vd, offs_m, offs_n, offs_d,
        unmasked_hi, masked_hi, N_KEYS, qk_scale, D, D_PAD, BLOCK_N, True, IS_CAUSAL, EVEN_D, TMA,
    )  # fmt: skip

    acc = acc / l_i[:, None]
    lse = (m_i + tl.math.log2(l_i)) * 0.6931471805599453  # back to natural log
    o_ptrs = _slice(O_ptr, b, h, stride_ob, stride_oh) + offs_m[:, None] * stride_oq + offs_d[None, :] * stride_od
    l_ptrs = _slice(L_ptr, b, h, stride_lb, stride_lh) + offs_m * stride_lq
    if EVEN_Q and EVEN_D:
        tl.store(o_ptrs, acc.to(O_ptr.dtype.element_ty))
    else:
        tl.store(o_ptrs, acc.to(O_ptr.dtype.element_ty), mask=(offs_m[:, None] < N_QUERIES) & (offs_d[None, :] < D))
    if EVEN_Q:
        tl.store(l_ptrs, lse)
    else:
        tl.store(l_ptrs, lse, mask=offs_m < N_QUERIES)


# ---------------------------------------------------------------------------------------------------------------
# Backward: dQ kernel (query tile resident; also computes D for its rows), then the dK/dV kernel (key tile
# resident, query tiles stream).


@triton.jit
def _dq_inner(
    dq, q, do, lse2, delta, k_src, v_src, b, h, stride_kk, stride_kd, stride_vk, stride_vd, offs_m, offs_n, offs_d,
    lo, hi, N_KEYS, qk_scale,
    D: tl.constexpr, D_PAD: tl.constexpr, BLOCK_N: tl.constexpr, MASK_ROWS: tl.constexpr, CAUSAL_MASK: tl.constexpr,
    EVEN_D: tl.constexpr, TMA: tl.constexpr,
):  # fmt: skip
    for start_n in range(lo, hi, BLOCK_N):
        start_n = tl.multiple_of(start_n, BLOCK_N)
        # Out-of-range keys load as zeros and add exactly zero to dQ (dS times a zero row of K), so the key bound
        # needs no mask on the scores.
        k = _load_tile(k_src, b, h, start_n, offs_n, offs_d, stride_kk, stride_kd, N_KEYS,
                       D, BLOCK_N, D_PAD, MASK_ROWS, EVEN_D, TMA)  # fmt: skip
        v = _load_tile(v_src, b, h, start_n, offs_n, offs_d, stride_vk, stride_vd, N_KEYS,
                       D, BLOCK_N, D_PAD, MASK_ROWS, EVEN_D, TMA)  # fmt: skip
        s = tl.dot(q, tl.trans(k))
        p = tl.math.exp2(s * qk_scale - lse2[:, None])
        if CAUSAL_MASK:
            p = tl.where(offs_m[:, None] >= (start_n + offs_n)[None, :], p, 0.0)
        dp = tl.dot(do, tl.trans(v))
        ds = p * (dp - delta[:, None])
        dq = tl.dot(ds.to(k.dtype), k, dq)
    return dq


@triton.jit
def _flash_bwd_dq_kernel(
    Q, K, V, O_ptr, DO, L_ptr, DD_ptr, DQ_ptr,
    stride_qb, stride_qh, stride_qq, stride_qd,
    stride_kb, stride_kh, stride_kk, stride_kd,
    stride_vb, stride_vh, stride_vk, stride_vd,
    stride_ob, stride_oh, stride_oq, stride_od,
    stride_dob, stride_doh, stride_doq, stride_dod,
    stride_lb, stride_lh, stride_lq,
    stride_db, stride_dh, stride_dq,
    stride_dqb, stride_dqh, stride_dqq, stride_dqd,
    H, N_QUERIES, N_KEYS, scale,
    D: tl.constexpr, D_PAD: tl.constexpr, IS_CAUSAL: tl.constexpr,
    EVEN_Q: tl.constexpr, EVEN_K: tl.constexpr, EVEN_D: tl.constexpr, TMA: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
):  # fmt: skip
    tl.static_assert(BLOCK_M % BLOCK_N == 0 or not IS_CAUSAL, "causal tiles need BLOCK_M % BLOCK_N == 0")
    pid_m, b, h = _program(H, IS_CAUSAL)  # causal: longest query tiles first
    start_m = pid_m * BLOCK_M
    offs_m = start_m + tl.arange(0, BLOCK_M)
    offs_n = tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, D_PAD)
    q_src = Q if TMA else _slice(Q, b, h, stride_qb, stride_qh)  # descriptors take (b, h) coordinates instead
    do_src = DO if TMA else _slice(DO, b, h, stride_dob, stride_doh)
    k_src = K if TMA else _slice(K, b, h, stride_kb, stride_kh)
    v_src = V if TMA else _slice(V, b, h, stride_vb, stride_vh)
    q = _load_tile(q_src, b, h, start_m, tl.arange(0, BLOCK_M), offs_d, stride_qq, stride_qd, N_QUERIES,
                   D, BLOCK_M, D_PAD, not EVEN_Q, EVEN_D, TMA)  # fmt: skip
    do = _load_tile(do_src, b, h, start_m, tl.arange(0, BLOCK_M), offs_d, stride_doq, stride_dod, N_QUERIES,
                    D, BLOCK_M, D_PAD, not EVEN_Q, EVEN_D, TMA)  # fmt: skip
    # D = rowsum(dO ∘ O) for these rows, in fp32; the dK/dV kernel (launched next) reads it back.
    o_ptrs = _slice(O_ptr, b, h, stride_ob, stride_oh) + offs_m[:, None] * stride_oq + offs_d[None, :] * stride_od
    if EVEN_Q and EVEN_D:
        o = tl.load(o_ptrs)
    else:
        o = tl.load(o_ptrs, mask=(offs_m[:, None] < N_QUERIES) & (offs_d[None, :] < D), other=0.0)
    delta = tl.sum(o.to(tl.float32) * do.to(tl.float32), 1)
    l_ptrs = _slice(L_ptr, b, h, stride_lb, stride_lh) + offs_m * stride_lq
    dd_ptrs = _slice(DD_ptr, b, h, stride_db, stride_dh) + offs_m * stride_dq
    if EVEN_Q:
        lse2 = tl.load(l_ptrs) * 1.4426950408889634
        tl.store(dd_ptrs, delta)
    else:
        lse2 = tl.load(l_ptrs, mask=offs_m < N_QUERIES, other=0.0) * 1.4426950408889634
        tl.store(dd_ptrs, delta, mask=offs_m < N_QUERIES)
    dq = tl.zeros([BLOCK_M, D_PAD], dtype=tl.float32)
    qk_scale = scale * 1.4426950408889634
    if IS_CAUSAL:
        lo_band = tl.minimum(start_m, (N_KEYS // BLOCK_N) * BLOCK_N)
        hi_band = tl.minimum(start_m + BLOCK_M, N_KEYS)
    else:
        lo_band = (N_KEYS // BLOCK_N) * BLOCK_N
        hi_band = N_KEYS
    dq = _dq_inner(
        dq, q, do, lse2, delta, k_src, v_src, b, h, stride_kk, stride_kd, stride_vk, stride_vd, offs_m, offs_n,
        offs_d, 0, lo_band, N_KEYS, qk_scale, D, D_PAD, BLOCK_N, False, False, EVEN_D, TMA,
    )  # fmt: skip
    # The diagonal band (causal) and the ragged key tail: bound-checked loads, causal mask on P.
    dq = _dq_inner(
        dq, q, do, lse2, delta, k_src, v_src, b, h, stride_kk, stride_kd, stride_vk, stride_vd, offs_m, offs_n,
        offs_d, lo_band, hi_band, N_KEYS, qk_scale, D, D_PAD, BLOCK_N, True, IS_CAUSAL, EVEN_D, TMA,
    )  # fmt: skip
    dq = dq * scale
    dq_ptrs = _slice(DQ_ptr, b, h, stride_dqb, stride_dqh) + offs_m[:, None] * stride_dqq + offs_d[None, :] * stride_dqd
    if EVEN_Q and EVEN_D:
        tl.store(dq_ptrs, dq.to(DQ_ptr.dtype.element_ty))
    else:
        tl.store(dq_ptrs, dq.to(DQ_ptr.dtype.element_ty), mask=(offs_m[:, None] < N_QUERIES) & (offs_d[None, :] < D))


@triton.jit
def _dkdv_inner(
    dk, dv, k, v, q_src, do_src, l_ptrs, dd_ptrs, b, h, stride_qq, stride_qd, stride_doq, stride_dod, stride_lq,
    stride_dq, offs_n, offs_m, offs_d, lo, hi, N_QUERIES, qk_scale,
    D: tl.constexpr, D_PAD: tl.constexpr, BLOCK_M: tl.constexpr, MASKED: tl.constexpr, EVEN_Q: tl.constexpr,
    EVEN_D: tl.constexpr, TMA: tl.constexpr,
):  # fmt: skip
    for start_m in range(lo, hi, BLOCK_M):
        start_m = tl.multiple_of(start_m, BLOCK_M)
        rows = start_m + offs_m
        q = _load_tile(q_src, b, h, start_m, offs_m, offs_d, stride_qq, stride_qd, N_QUERIES,
                       D, BLOCK_M, D_PAD, not EVEN_Q, EVEN_D, TMA)  # fmt: skip
        if EVEN_Q:
            lse2 = tl.load(l_ptrs + rows * stride_lq) * 1.4426950408889634
        else:
            lse2 = tl.load(l_ptrs + rows * stride_lq, mask=rows < N_QUERIES, other=0.0) * 1.4426950408889634
        do = _load_tile(do_src, b, h, start_m, offs_m, offs_d, stride_doq, stride_dod, N_QUERIES,
                        D, BLOCK_M, D_PAD, not EVEN_Q, EVEN_D, TMA)  # fmt: skip
        if EVEN_Q:
            delta = tl.load(dd_ptrs + rows * stride_dq)
        else:
            delta = tl.load(dd_ptrs + rows * stride_dq, mask=rows < N_QUERIES, other=0.0)
        # Transposed scores and dP: (BLOCK_N keys) x (BLOCK_M queries). Both products come first: Triton waits on
        # a product consumed in the same iteration (and on every product issued before it) right away, but not on
        # the dV and dK accumulations, so dS is computed while the dV product runs.
        s_t = tl.dot(k, tl.trans(q))
        dp_t = tl.dot(v, tl.trans(do))
        p_t = tl.math.exp2(s_t * qk_scale - lse2[None, :])
        if MASKED:  # diagonal band: query i sees key j iff i >= j
            p_t = tl.where(rows[None, :] >= offs_n[:, None], p_t, 0.0)
        dv = tl.dot(p_t.to(do.dtype), do, dv)
        ds_t = p_t * (dp_t - delta[None, :])
        dk = tl.dot(ds_t.to(q.dtype), q, dk)
    return dk, dv


@triton.jit
def _flash_bwd_dkdv_kernel(
    Q, K, V, DO, L_ptr, DD_ptr, DK_ptr, DV_ptr,
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
    EVEN_Q: tl.constexpr, EVEN_K: tl.constexpr, EVEN_D: tl.constexpr, TMA: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
):  # fmt: skip
    tl.static_assert(BLOCK_N % BLOCK_M == 0 or not IS_CAUSAL, "causal tiles need BLOCK_N % BLOCK_M == 0")
    pid_n, b, h = _program(H, False)  # causal: the first key tiles see the most queries and come first already
    start_n = pid_n * BLOCK_N
    offs_n = start_n + tl.arange(0, BLOCK_N)
    offs_m = tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, D_PAD)
    q_src = Q if TMA else _slice(Q, b, h, stride_qb, stride_qh)  # descriptors take (b, h) coordinates instead
    do_src = DO if TMA else _slice(DO, b, h, stride_dob, stride_doh)
    k_src = K if TMA else _slice(K, b, h, stride_kb, stride_kh)
    v_src = V if TMA else _slice(V, b, h, stride_vb, stride_vh)
    k = _load_tile(k_src, b, h, start_n, tl.arange(0, BLOCK_N), offs_d, stride_kk, stride_kd, N_KEYS,
                   D, BLOCK_N, D_PAD, not EVEN_K, EVEN_D, TMA)  # fmt: skip
    v = _load_tile(v_src, b, h, start_n, tl.arange(0, BLOCK_N), offs_d, stride_vk, stride_vd, N_KEYS,
                   D, BLOCK_N, D_PAD, not EVEN_K, EVEN_D, TMA)  # fmt: skip
    dk = tl.zeros([BLOCK_N, D_PAD], dtype=tl.float32)
    dv = tl.zeros([BLOCK_N, D_PAD], dtype=tl.float32)
    qk_scale = scale * 1.4426950408889634

    l_ptrs = _slice(L_ptr, b, h, stride_lb, stride_lh)
    dd_ptrs = _slice(DD_ptr, b, h, stride_db, stride_dh)
    if IS_CAUSAL:
        # Query tiles in [start_n, start_n + BLOCK_N) straddle the diagonal (masked); later ones are fully visible.
        band_hi = tl.minimum(start_n + BLOCK_N, N_QUERIES)
        dk, dv = _dkdv_inner(
            dk, dv, k, v, q_src, do_src, l_ptrs, dd_ptrs, b, h, stride_qq, stride_qd, stride_doq, stride_dod,
            stride_lq, stride_dq, offs_n, offs_m, offs_d, start_n, band_hi, N_QUERIES, qk_scale,
            D, D_PAD, BLOCK_M, True, EVEN_Q, EVEN_D, TMA,
        )  # fmt: skip
        dk, dv = _dkdv_inner(
            dk, dv, k, v, q_src, do_src, l_ptrs, dd_ptrs, b, h, stride_qq, stride_qd, stride_doq, stride_dod,
            stride_lq, stride_dq, offs_n, offs_m, offs_d, start_n + BLOCK_N, N_QUERIES, N_QUERIES, qk_scale,
            D, D_PAD, BLOCK_M, False, EVEN_Q, EVEN_D, TMA,
        )  # fmt: skip
    else:
        dk, dv = _dkdv_inner(
            dk, dv, k, v, q_src, do_src, l_ptrs, dd_ptrs, b, h, stride_qq, stride_qd, stride_doq, stride_dod,
            stride_lq, stride_dq, offs_n, offs_m, offs_d, 0, N_QUERIES, N_QUERIES, qk_scale,
            D, D_PAD, BLOCK_M, False, EVEN_Q, EVEN_D, TMA,
        )  # fmt: skip
    dk = dk * scale
    kv_mask = (offs_n[:, None] < N_KEYS) & (offs_d[None, :] < D)
    dk_ptrs = _slice(DK_ptr, b, h, stride_dkb, stride_dkh) + offs_n[:, None] * stride_dkk + offs_d[None, :] * stride_dkd
    dv_ptrs = _slice(DV_ptr, b, h, stride_dvb, stride_dvh) + offs_n[:, None] * stride_dvk + offs_d[None, :] * stride_dvd
    if EVEN_K and EVEN_D:
        tl.store(dk_ptrs, dk.to(DK_ptr.dtype.element_ty))
        tl.store(dv_ptrs, dv.to(DV_ptr.dtype.element_ty))
    else:
        tl.store(dk_ptrs, dk.to(DK_ptr.dtype.element_ty), mask=kv_mask)
        tl.store(dv_ptrs, dv.to(DV_ptr.dtype.element_ty), mask=kv_mask)


# ---------------------------------------------------------------------------------------------------------------
# Configs. Keyed by the padded head dim; BLOCK_M is the query tile and BLOCK_N the key tile in every kernel.
# (BLOCK_M, BLOCK_N, num_warps, num_stages, warp-specialised main loop), chosen from a sweep on an H100
# (benchmarks/fa2_sweep.py); autotuning picks among the few listed for the head dim.


class Tile(NamedTuple):
    """One launch configuration."""

    bm: int
    bn: int
    warps: int
    stages: int


TUNED: dict[str, dict[int, list[Tile]]] = {
    "fwd": {
        16: [Tile(128, 64, 8, 3), Tile(64, 64, 4, 3)],
        32: [Tile(128, 64, 8, 3), Tile(64, 64, 4, 3)],
        64: [Tile(128, 64, 8, 3), Tile(64, 64, 4, 3), Tile(128, 64, 4, 3)],
        128: [Tile(128, 128, 8, 3), Tile(128, 64, 8, 3), Tile(64, 64, 4, 3)],
        256: [Tile(64, 32, 4, 2), Tile(64, 64, 8, 2)],
    },
    "dq": {
        16: [Tile(128, 64, 4, 4), Tile(64, 64, 4, 4)],
        32: [Tile(128, 64, 4, 4), Tile(64, 64, 4, 4)],
        64: [Tile(128, 64, 4, 4), Tile(64, 64, 4, 4), Tile(128, 64, 4, 3)],
        128: [Tile(128, 64, 8, 3), Tile(64, 64, 4, 3)],
        256: [Tile(64, 32, 4, 2), Tile(32, 32, 4, 2)],
    },
    "dkdv": {
        16: [Tile(64, 64, 4, 3), Tile(64, 64, 4, 4)],
        32: [Tile(64, 64, 4, 3), Tile(64, 64, 4, 4)],
        64: [Tile(64, 64, 4, 3), Tile(64, 64, 4, 4)],
        128: [Tile(64, 128, 8, 4), Tile(64, 64, 4, 2), Tile(64, 128, 8, 3)],
        256: [Tile(32, 64, 4, 2), Tile(32, 32, 4, 2)],
    },
}
# fp32 inputs take 2x the shared memory per tile: small tiles, any head dim.
TUNED_FP32: dict[str, list[Tile]] = {
    "fwd": [Tile(64, 32, 4, 2), Tile(32, 32, 4, 2)],
    "dq": [Tile(64, 32, 4, 2), Tile(32, 32, 4, 2)],
    "dkdv": [Tile(32, 64, 4, 2), Tile(32, 32, 4, 2)],
}
# CS336_FLASH_TUNE=0 (no autotuning: one compile per shape class; the GPU tests and short-lived processes use it)
# launches the first entry of the list that applies.
INTERPRET_CFG: dict[str, Tile] = {"fwd": Tile(32, 16, 4, 1), "dq": Tile(32, 16, 4, 1), "dkdv": Tile(16, 32, 4, 1)}
_KEY = ["N_QUERIES", "N_KEYS", "D_PAD", "IS_CAUSAL", "TMA"]


def _candidates(name: str, d_pad: int, fp32: bool) -> list[Tile]:
    return TUNED_FP32[name] if fp32 else TUNED[name].get(d_pad, TUNED[name][64])


def _default_tma(name: str, d_pad: int, scores: int) -> bool:
    """Where TMA is usable, which kernels read through it. CS336_FLASH_TMA=1 forces it on for every kernel, =0 off.
    Measured on an H100 (benchmarks/fa2_sweep.py, 16k tokens, causal bf16): TMA beat pointer loads only in the dQ
    kernel at head dim 64 (1.30 vs 1.35 ms); the forward (1.36 vs 1.29) and dK/dV (2.30 vs 2.05) were slower.
    Descriptors cost host time on every launch (building them, encoding them in the launcher), which only pays
    where the GPU time is long enough to hide it: `scores` = batch * heads * n_queries * n_keys >= 2**29 (e.g. 16
    heads at 8k x 4k); below that a forward + backward is bound by the host anyway (benchmarks/fa2_overhead.py)."""
    mode = os.environ.get("CS336_FLASH_TMA", "auto")
    if mode in ("0", "1"):
        return mode == "1"
    return name == "dq" and d_pad <= 64 and scores >= 2**29


def _set_tma_blocks(nargs: dict) -> None:
    """Autotune pre-hook: a descriptor's box is one (BLOCK, D_PAD) tile of one (b, h) slice."""
    for name, block in (("Q", "BLOCK_M"), ("DO", "BLOCK_M"), ("K", "BLOCK_N"), ("V", "BLOCK_N")):
        t = nargs.get(name)
        if TensorDescriptor is not None and isinstance(t, TensorDescriptor):
            t.block_shape = [1, 1, nargs[block], nargs["D_PAD"]]


def _as_config(c: Tile) -> triton.Config:
    return triton.Config(
        {"BLOCK_M": c.bm, "BLOCK_N": c.bn},
        num_warps=c.warps, num_stages=c.stages, pre_hook=_set_tma_blocks,
    )  # fmt: skip


def _autotuned(kernel, name: str):
    every = sorted({c for per_d in TUNED[name].values() for c in per_d} | set(TUNED_FP32[name]))

    def prune(configs, named_args, **kwargs):
        q = named_args["Q"]
        fp32 = getattr(q, "dtype", None) == torch.float32
        wanted = set(_candidates(name, kwargs.get("D_PAD", named_args.get("D_PAD")), fp32))
        return [c for c in configs if _tile_of(c) in wanted] or configs[:1]

    return triton.autotune(configs=[_as_config(c) for c in every], key=_KEY,
                           prune_configs_by={"early_config_prune": prune})(kernel)  # fmt: skip


def _tile_of(c: triton.Config) -> Tile:
    kw = c.kwargs
    return Tile(kw["BLOCK_M"], kw["BLOCK_N"], c.num_warps, c.num_stages)


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


def _check(q: Tensor, k: Tensor, v: Tensor) -> None:
    check_qkv(q, k, v)
    if not INTERPRET and not q.is_cuda:
        raise ConfigError("the Triton FlashAttention needs CUDA tensors (or TRITON_INTERPRET=1)")
    if q.shape[-1] > 256:
        raise ConfigError(f"head dim {q.shape[-1]} > 256 is not supported by the Triton FlashAttention")
    if q.dtype not in (torch.float16, torch.bfloat16, torch.float32):
        raise ConfigError(f"unsupported dtype {q.dtype}; expected fp16, bf16 or fp32")


@functools.cache
def _has_tma(device_index: int) -> bool:
    return TensorDescriptor is not None and torch.cuda.get_device_capability(device_index)[0] >= 9


def _tma_strides(t: Tensor) -> list[int]:
    """t's strides with those of unit dims (never stepped along; torch may give them any value) made dense."""
    strides = list(t.stride())
    for i in range(t.ndim - 2, -1, -1):
        if t.shape[i] == 1:
            strides[i] = strides[i + 1] * t.shape[i + 1]
    return strides


def _tma_usable(*tensors: Tensor) -> bool:
    """TMA descriptors need compute capability >= 9, a 16-bit dtype, unit stride along d and 16-byte aligned base
    pointers and strides; used for head dims up to 128."""
    if INTERPRET:
        return False
    t0 = tensors[0]
    if (
        t0.element_size() != 2
        or t0.shape[-1] > 128
        or not _has_tma(t0.device.index if t0.device.index is not None else 0)
    ):
        return False
    for t in tensors:
        if t.stride(-1) != 1 or t.data_ptr() % 16 or any(s * 2 % 16 for s in _tma_strides(t)[:-1]):
            return False
    return True


def _descriptor(t4: Tensor, block: int, d_pad: int):
    return TensorDescriptor(t4, list(t4.shape), _tma_strides(t4), [1, 1, block, d_pad])


def _d_pad(d: int) -> int:
    return max(16, 1 << (d - 1).bit_length())


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def _flags(n_q: int, n_k: int, d: int, is_causal: bool, tma: bool) -> dict:
    # Lengths that are multiples of the largest tile need no bound masks on loads and stores.
    d_pad = _d_pad(d)
    return dict(
        D=d, D_PAD=d_pad, IS_CAUSAL=bool(is_causal), EVEN_Q=n_q % MAX_BLOCK == 0, EVEN_K=n_k % MAX_BLOCK == 0,
        EVEN_D=d == d_pad, TMA=tma,
    )  # fmt: skip


def _fixed_tiles(name: str, flags: dict, fp32: bool, cfg: Tile | None) -> list[Tile] | None:
    """An explicit config (sweeps), the interpreter's, the fixed ones in order of preference (CS336_FLASH_TUNE=0),
    or None = autotune."""
    if cfg is not None:
        return [Tile(*cfg)]
    if INTERPRET:
        return [INTERPRET_CFG[name]]
    if os.environ.get("CS336_FLASH_TUNE", "1") == "0":
        return _candidates(name, flags["D_PAD"], fp32)
    return None


class _Args(NamedTuple):
    """A kernel's runtime arguments: the tensors (in the kernel's order, by parameter name), then the scalars."""

    tensors: list[tuple[str, Tensor]]
    scalars: tuple

    @staticmethod
    def of(tensors: list[tuple[str, Tensor]], *tail) -> _Args:
        """The tensors, their strides (in the same order) and the trailing scalars."""
        return _Args(tensors, (*[s for _, t in tensors for s in t.stride()], *tail))


def _launch(name: str, grid, args: _Args, flags: dict, cfg: Tile | None, tma_names: frozenset) -> None:
    """Launch kernel `name`; the tensors named in `tma_names` go in as TMA descriptors when flags["TMA"].

    The first launch with a given signature goes through Triton (autotuner, argument binding, compile cache); the
    compiled kernel and the tile it used are kept under that signature, and later launches with the same signature
    call the compiled kernel directly. That cuts the host cost of a forward + backward by about half, which is what
    sets the pace on short sequences."""
    tiles = _fixed_tiles(name, flags, args.tensors[0][1].dtype == torch.float32, cfg)
    key = _signature(name, args, flags, tiles) if _FAST_LAUNCH else None
    hit = _COMPILED.get(key) if key is not None else None
    if hit is not None:
        compiled, t = hit
        g = grid({"BLOCK_M": t.bm, "BLOCK_N": t.bn})
        compiled[(g[0], g[1], 1)](*_kernel_args(args, flags, tma_names, t.bm, t.bn), *_constexprs(name, flags, t))
        return
    compiled, t = _launch_via_triton(name, grid, args, flags, tiles, tma_names)
    if key is not None and compiled is not None:
        if len(_COMPILED) >= _MAX_SIGNATURES:
            _COMPILED.clear()
        _COMPILED[key] = (compiled, t)


def _launch_via_triton(name: str, grid, args: _Args, flags: dict, tiles: list[Tile] | None, tma_names: frozenset):
    """Launch through Triton's own entry points; returns (compiled kernel, tile used)."""
    if tiles is None:  # autotune: its pre-hook sets each descriptor's box per config
        tuned = _TUNED[name]
        compiled = tuned[grid](*_kernel_args(args, flags, tma_names, 64, 64), **flags)
        return compiled, _tile_of(tuned.best_config)
    kernel = _JIT[name]
    for i, t in enumerate(tiles):
        try:
            compiled = kernel[grid](*_kernel_args(args, flags, tma_names, t.bm, t.bn), **flags, BLOCK_M=t.bm,
                                    BLOCK_N=t.bn, num_warps=t.warps, num_stages=t.stages)  # fmt: skip
            return compiled, t
        except OutOfResources:  # e.g. an A100's smaller shared memory: next tile
            if i == len(tiles) - 1:
                raise
    raise AssertionError("unreachable")


# Direct launches of compiled kernels (see _launch). CS336_FLASH_FAST_LAUNCH=0 sends every launch through Triton.
_FAST_LAUNCH = not INTERPRET and os.environ.get("CS336_FLASH_FAST_LAUNCH", "1") != "0"
_MAX_SIGNATURES = 4096
_COMPILED: dict[tuple, tuple] = {}


def _signature(name: str, args: _Args, flags: dict, tiles: list[Tile] | None) -> tuple:
    """Everything Triton specialises a compiled kernel on, and more: the exact scalar arguments (strides, lengths),
    each tensor's dtype, shape and 16-byte alignment, the compile-time flags, the tile choice and the device."""
    tensors = [(t.dtype, t.shape, t.data_ptr() % 16 == 0) for _, t in args.tensors]
    return (name, torch.cuda.current_device(), *flags.values(), tiles and tuple(tiles), args.scalars, *tensors)


@functools.cache
def _constexpr_names(name: str) -> tuple[str, ...]:
    return tuple(p.name for p in _JIT[name].params if p.is_constexpr)


def _constexprs(name: str, flags: dict, t: Tile) -> list:
    values = {**flags, "BLOCK_M": t.bm, "BLOCK_N": t.bn}
    return [values[n] for n in _constexpr_names(name)]


def _kernel_args(args: _Args, flags: dict, tma_names: frozenset, bm: int, bn: int) -> list:
    if not flags["TMA"]:
        return [*(t for _, t in args.tensors), *args.scalars]
    blocks = {"Q": bm, "DO": bm, "K": bn, "V": bn}
    d_pad = flags["D_PAD"]
    tensors = (_descriptor(t, blocks[n], d_pad) if n in tma_names else t for n, t in args.tensors)
    return [*tensors, *args.scalars]


_QKV = frozenset({"Q", "K", "V"})
_QKV_DO = frozenset({"Q", "K", "V", "DO"})


def flash_attn_forward(
    q: Tensor, k: Tensor, v: Tensor, is_causal: bool, *, cfg: Tile | None = None, tma: bool | None = None
) -> tuple[Tensor, Tensor]:
    """O (q's shape, contiguous) and L (q.shape[:-1], fp32). `cfg`/`tma` override the tile choice (benchmarks)."""
    _check(q, k, v)
    q4, k4, v4 = _as4d(q), _as4d(k), _as4d(v)
    batch, heads, n_q, d = q4.shape
    n_k = k4.shape[2]
    o = torch.empty(q.shape, dtype=q.dtype, device=q.device)
    lse = torch.empty(q.shape[:-1], dtype=torch.float32, device=q.device)
    o4 = _as4d(o)
    l4 = lse.reshape(batch, heads, n_q)
    if tma is None:
        tma = _default_tma("fwd", _d_pad(d), batch * heads * n_q * n_k) and _tma_usable(q4, k4, v4)
    flags = _flags(n_q, n_k, d, is_causal, tma)

    def grid(meta):
        return (_cdiv(n_q, meta["BLOCK_M"]), batch * heads)

    args = _Args.of([("Q", q4), ("K", k4), ("V", v4), ("O", o4), ("L", l4)], heads, n_q, n_k, 1.0 / math.sqrt(d))
    _launch("fwd", grid, args, flags, cfg, _QKV)
    return o, lse


def flash_attn_backward(
    q: Tensor, k: Tensor, v: Tensor, o: Tensor, do: Tensor, lse: Tensor, is_causal: bool, *,
    cfg_dq: Tile | None = None, cfg_dkdv: Tile | None = None, tma: bool | None = None,
) -> tuple[Tensor, Tensor, Tensor]:  # fmt: skip
    """dQ, dK, dV: the dQ kernel (which also writes D = rowsum(dO ∘ O)), then the dK/dV kernel."""
    st = _BackwardState(q, k, v, o, do, lse, is_causal, tma)
    st.run_dq(cfg_dq)
    st.run_dkdv(cfg_dkdv)
    return st.dq, st.dk, st.dv


class _BackwardState:
    """Buffers and launch arguments of one backward; the two kernels can be launched (and timed) separately."""

    def __init__(self, q, k, v, o, do, lse, is_causal: bool, tma: bool | None) -> None:
        q4, k4, v4, o4, do4 = _as4d(q), _as4d(k), _as4d(v), _as4d(o), _as4d(do)
        batch, heads, n_q, d = q4.shape
        n_k = k4.shape[2]
        if do4.dtype != q4.dtype:
            do4 = do4.to(q4.dtype)
        l4 = lse.reshape(batch, heads, n_q)
        delta = torch.empty(batch, heads, n_q, dtype=torch.float32, device=q.device)  # written by the dQ kernel
        self.dq = torch.empty(q.shape, dtype=q.dtype, device=q.device)
        self.dk = torch.empty(k.shape, dtype=k.dtype, device=k.device)
        self.dv = torch.empty(v.shape, dtype=v.dtype, device=v.device)
        dq4, dk4, dv4 = _as4d(self.dq), _as4d(self.dk), _as4d(self.dv)
        if tma is None:
            want = {name: _default_tma(name, _d_pad(d), batch * heads * n_q * n_k) for name in ("dq", "dkdv")}
            usable = any(want.values()) and _tma_usable(q4, k4, v4, do4)
            self.flags = {name: _flags(n_q, n_k, d, is_causal, w and usable) for name, w in want.items()}
        else:
            self.flags = {name: _flags(n_q, n_k, d, is_causal, tma) for name in ("dq", "dkdv")}
        tail = (heads, n_q, n_k, 1.0 / math.sqrt(d))
        self.dq_args = _Args.of(
            [("Q", q4), ("K", k4), ("V", v4), ("O", o4), ("DO", do4), ("L", l4), ("DD", delta), ("DQ", dq4)], *tail
        )
        self.dkdv_args = _Args.of(
            [("Q", q4), ("K", k4), ("V", v4), ("DO", do4), ("L", l4), ("DD", delta), ("DK", dk4), ("DV", dv4)], *tail
        )
        self.grid_q = lambda meta: (_cdiv(n_q, meta["BLOCK_M"]), batch * heads)
        self.grid_k = lambda meta: (_cdiv(n_k, meta["BLOCK_N"]), batch * heads)

    def run_dq(self, cfg: Tile | None = None) -> None:
        _launch("dq", self.grid_q, self.dq_args, self.flags["dq"], cfg, _QKV_DO)

    def run_dkdv(self, cfg: Tile | None = None) -> None:
        _launch("dkdv", self.grid_k, self.dkdv_args, self.flags["dkdv"], cfg, _QKV_DO)


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
flash_fwd_kernel = _autotuned(_flash_fwd_kernel, "fwd")
flash_bwd_dq_kernel = _autotuned(_flash_bwd_dq_kernel, "dq")
flash_bwd_dkdv_kernel = _autotuned(_flash_bwd_dkdv_kernel, "dkdv")
_TUNED = {"fwd": flash_fwd_kernel, "dq": flash_bwd_dq_kernel, "dkdv": flash_bwd_dkdv_kernel}
_JIT = {"fwd": _flash_fwd_kernel, "dq": _flash_bwd_dq_kernel, "dkdv": _flash_bwd_dkdv_kernel}
