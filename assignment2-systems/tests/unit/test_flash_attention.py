"""FlashAttention-2 against a float64 naive reference: PyTorch tiles (CPU), Triton interpreter (CPU), Triton (GPU)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from cs336_systems.errors import ConfigError
from cs336_systems.flash_attention import FlashAttentionPytorch, flash_attention, reference_attention
from tests import adapters


def _lse_from_graph(o: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    cands = [t for t in o.grad_fn.saved_tensors if t.shape == q.shape[:-1]]
    assert len(cands) == 1, "exactly one saved tensor must have shape (batch, n_queries)"
    return cands[0]


def check_against_reference(cls, shape_q, n_k, is_causal, dtype, device, atol, rtol, seed=0):
    gen = torch.Generator().manual_seed(seed)
    *lead, n_q, d = shape_q
    q = torch.randn(*lead, n_q, d, generator=gen).to(device, dtype).requires_grad_()
    k = torch.randn(*lead, n_k, d, generator=gen).to(device, dtype).requires_grad_()
    v = torch.randn(*lead, n_k, d, generator=gen).to(device, dtype).requires_grad_()
    do = torch.randn(*lead, n_q, d, generator=gen).to(device, dtype)
    o = cls.apply(q, k, v, is_causal)
    assert o.shape == q.shape and o.dtype == q.dtype
    lse = _lse_from_graph(o, q)
    assert lse.dtype == torch.float32
    dq, dk, dv = torch.autograd.grad(o, (q, k, v), do)
    q64, k64, v64 = (t.detach().double().requires_grad_() for t in (q, k, v))
    ro, rl = reference_attention(q64, k64, v64, is_causal)
    rdq, rdk, rdv = torch.autograd.grad(ro, (q64, k64, v64), do.double())
    for name, got, want in [("O", o, ro), ("L", lse, rl), ("dQ", dq, rdq), ("dK", dk, rdk), ("dV", dv, rdv)]:
        torch.testing.assert_close(got.double(), want, atol=atol, rtol=rtol, msg=lambda m, n=name: f"{n}: {m}")


@pytest.mark.parametrize("is_causal", [False, True])
@pytest.mark.parametrize(
    ("shape_q", "n_k"), [((2, 32, 16), 32), ((1, 37, 24), 37), ((2, 3, 20, 16), 45), ((1, 40, 32), 19)]
)
def test_pytorch_matches_float64_reference(shape_q, n_k, is_causal):
    check_against_reference(FlashAttentionPytorch, shape_q, n_k, is_causal, torch.float32, "cpu", 1e-4, 1e-4)


def test_pytorch_catches_a_wrong_mask():
    # Guard that the comparison can fail: causal output must differ from non-causal.
    q, k, v = (torch.randn(1, 16, 16) for _ in range(3))
    assert not torch.allclose(FlashAttentionPytorch.apply(q, k, v, True), FlashAttentionPytorch.apply(q, k, v, False))


def test_adapter_returns_classes():
    assert adapters.get_flashattention_autograd_function_pytorch() is FlashAttentionPytorch


def test_bad_inputs_raise_config_error():
    q = torch.randn(1, 8, 16)
    with pytest.raises(ConfigError, match="head dims"):
        flash_attention(q, torch.randn(1, 8, 8), torch.randn(1, 8, 8), impl="torch")
    with pytest.raises(ConfigError, match="dtypes"):
        flash_attention(q, q.double(), q, impl="torch")
    with pytest.raises(ConfigError, match="impl"):
        flash_attention(q, q, q, impl="cuda")


def test_import_does_not_load_triton():
    code = (
        "import sys, cs336_systems, cs336_systems.flash_attention; assert 'triton' not in sys.modules, 'triton loaded'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])


def _interpreter_usable() -> str | None:
    try:
        import triton  # noqa: F401
    except ImportError as exc:
        return f"triton not installed: {exc}"
    return None


@pytest.mark.slow
def test_triton_kernels_under_interpreter():
    """Runs the Triton kernels through TRITON_INTERPRET=1 in a subprocess (the flag must be set before import)."""
    reason = _interpreter_usable()
    if torch.cuda.is_available():
        reason = "CUDA present: the compiled kernels are tested by the gpu tests (triton 3.6's interpreter fails here)"
    if reason:
        pytest.skip(reason)
    code = (
        "import torch\n"
        "from tests.unit.test_flash_attention import check_against_reference\n"
        "from cs336_systems.kernels.flash_triton import FlashAttentionTriton as F\n"
        "for shape, nk, c in [((1, 2, 40, 24), 40, True), ((2, 33, 16), 50, False), ((1, 50, 32), 30, True),"
        " ((1, 1, 48, 80), 48, True), ((1, 128, 16), 128, True), ((1, 128, 16), 128, False)]:\n"
        "    check_against_reference(F, shape, nk, c, torch.float32, 'cpu', 1e-4, 1e-4)\n"
        "# real strides: a transposed (B, N, H, d) view goes in without a copy\n"
        "x = torch.randn(1, 24, 2, 16, requires_grad=True)\n"
        "q = x.transpose(1, 2)\n"
        "o = F.apply(q, q, q, True)\n"
        "torch.testing.assert_close(o, __import__('cs336_systems.flash_attention', fromlist=['x'])"
        ".reference_attention(q, q, q, True)[0], atol=1e-4, rtol=1e-4)\n"
        "# the model backend inside torch.compile: a graph break around the kernels, same values and gradients\n"
        "from cs336_systems.attention_backends import flash_triton_backend\n"
        "q, k, v = [torch.randn(1, 2, 32, 16, requires_grad=True) for _ in range(3)]\n"
        "f = torch.compile(lambda q, k, v: flash_triton_backend(q, k, v, True) * 2)\n"
        "f(q, k, v).sum().backward()\n"
        "g = [t.grad.clone() for t in (q, k, v)]\n"
        "for t in (q, k, v): t.grad = None\n"
        "(torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True) * 2).sum().backward()\n"
        "for a, t in zip(g, (q, k, v)): torch.testing.assert_close(a, t.grad, atol=1e-4, rtol=1e-4)\n"
    )
    env = dict(os.environ, TRITON_INTERPRET="1", OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=Path(__file__).parents[2], env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-3000:]


GPU_DTYPES = {torch.float32: (2e-2, 2e-2), torch.bfloat16: (6e-2, 5e-2), torch.float16: (2e-2, 2e-2)}


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", list(GPU_DTYPES))
@pytest.mark.parametrize("is_causal", [False, True])
@pytest.mark.parametrize("seed", range(4))
def test_triton_gpu_random_shapes(dtype, is_causal, seed, monkeypatch):
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    monkeypatch.setenv("CS336_FLASH_TUNE", "0")  # fixed tiles: one compile per shape class, no autotune sweep
    gen = torch.Generator().manual_seed(seed)
    b, h = (int(x) for x in torch.randint(1, 4, (2,), generator=gen))
    n_q = int(torch.randint(1, 700, (1,), generator=gen))
    n_k = n_q if seed % 2 == 0 else int(torch.randint(1, 700, (1,), generator=gen))
    d = [16, 32, 48, 64, 80, 96, 128][seed % 7 if seed % 2 else (seed + 3) % 7]
    atol, rtol = GPU_DTYPES[dtype]
    cls = adapters.get_flashattention_autograd_function_triton()
    check_against_reference(cls, (b, h, n_q, d), n_k, is_causal, dtype, "cuda", atol, rtol, seed=seed)


@pytest.mark.gpu
@pytest.mark.parametrize("d", [64, 128])
def test_triton_gpu_long_causal_bf16(d):
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    cls = adapters.get_flashattention_autograd_function_triton()
    check_against_reference(cls, (1, 2, 4096, d), 4096, True, torch.bfloat16, "cuda", 3e-2, 5e-2)


def _fwd_bwd(q, k, v, do, is_causal):
    from cs336_systems.kernels.flash_triton import FlashAttentionTriton

    q, k, v = (t.detach().requires_grad_() for t in (q, k, v))
    o = FlashAttentionTriton.apply(q, k, v, is_causal)
    return (o, *torch.autograd.grad(o, (q, k, v), do))


@pytest.mark.gpu
@pytest.mark.parametrize(("tune", "tma"), [("0", "auto"), ("0", "1"), ("1", "auto")])
def test_triton_gpu_direct_launches_match_triton_launches(tune, tma, monkeypatch):
    """Repeated launches with one signature reuse the compiled kernel; a new layout (transposed view, a 2-byte
    offset that breaks 16-byte alignment and so TMA) is a new signature. Each result equals, bit for bit, what a
    launch through Triton's own entry points gives, and the contiguous one matches the float64 reference.
    CS336_FLASH_TMA=1 puts every kernel on TMA descriptors where the layout allows (on compute capability >= 9)."""
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    from cs336_systems.kernels import flash_triton as ft

    monkeypatch.setenv("CS336_FLASH_TUNE", tune)
    monkeypatch.setenv("CS336_FLASH_TMA", tma)
    monkeypatch.setattr(ft, "_COMPILED", {})
    gen = torch.Generator(device="cuda").manual_seed(0)
    base = torch.randn(4 * 2 * 300 * 64 + 1, device="cuda", dtype=torch.bfloat16, generator=gen)
    contiguous = [base[i * 38400 : (i + 1) * 38400].view(1, 2, 300, 64) for i in range(4)]
    transposed = [t.reshape(1, 300, 2, 64).transpose(1, 2) for t in contiguous]
    offset = [base[1 + i * 38400 : 1 + (i + 1) * 38400].view(1, 2, 300, 64) for i in range(4)]
    expected_entries = 0
    for layout in (contiguous, contiguous, transposed, offset):
        q, k, v, do = layout
        direct = _fwd_bwd(q, k, v, do, True)
        if layout is not contiguous or expected_entries == 0:
            expected_entries += 3  # forward, dQ and dK/dV kernels
        assert len(ft._COMPILED) == expected_entries
        monkeypatch.setattr(ft, "_FAST_LAUNCH", False)
        via_triton = _fwd_bwd(q, k, v, do, True)
        monkeypatch.setattr(ft, "_FAST_LAUNCH", True)
        for name, a, b in zip(("O", "dQ", "dK", "dV"), direct, via_triton, strict=True):
            assert torch.equal(a, b), name
    q64, k64, v64 = (t.detach().double().requires_grad_() for t in contiguous[:3])
    ro, _ = reference_attention(q64, k64, v64, True)
    want = (ro, *torch.autograd.grad(ro, (q64, k64, v64), contiguous[3].double()))
    for a, b in zip(_fwd_bwd(*contiguous, True), want, strict=True):
        torch.testing.assert_close(a.double(), b, atol=3e-2, rtol=5e-2)


def test_triton_tile_tables_fit_the_kernels():
    """Every listed tile must satisfy the causal kernels' static asserts (forward/dQ: BLOCK_M % BLOCK_N == 0; dK/dV:
    BLOCK_N % BLOCK_M == 0) and stay within the 256-row tiles the EVEN_* flags assume."""
    pytest.importorskip("triton")
    from cs336_systems.kernels import flash_triton as ft

    tiles = [(name, t) for name, per_d in ft.TUNED.items() for ts in per_d.values() for t in ts]
    tiles += [(name, t) for name, ts in ft.TUNED_FP32.items() for t in ts]
    for name, t in tiles:
        assert max(t.bm, t.bn) <= ft.MAX_BLOCK, (name, t)
        assert (t.bn % t.bm if name == "dkdv" else t.bm % t.bn) == 0, (name, t)
    assert ft._candidates("fwd", 128, fp32=True) == ft.TUNED_FP32["fwd"]
    assert ft._candidates("dq", 48, fp32=False) == ft.TUNED["dq"][64]  # unknown padded dims use d=64's list


def test_tma_strides_make_unit_dims_dense():
    pytest.importorskip("triton")
    from cs336_systems.kernels.flash_triton import _tma_strides

    x = torch.empty(2, 24, 4, 16).transpose(1, 2)  # (B, H, N, d) view of a (B, N, H, d) buffer
    assert _tma_strides(x) == list(x.stride())
    y = torch.empty(1, 24, 16).unsqueeze(1)  # unit batch and head dims: any stride torch gave them is replaced
    assert _tma_strides(y) == [24 * 16, 24 * 16, 16, 1]
