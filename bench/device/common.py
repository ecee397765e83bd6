"""Shared pieces of the H200 check (bench/device/check.py): the case registry, random inputs
drawn on the CPU from one seeded generator (so the GPU and the dry run see the same data),
poisoned outputs, and the comparisons every correctness case uses. References are float64
torch math on the CPU, written from the kernels' docs (generated/cuda/manifest.json `doc`)
and the float64 TypeScript references in test/harness/, never from the kernels.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import torch

# bf16 results of f32 math against float64 math rounded to bf16: one bf16 ulp (2^-7 relative)
# covers an f32 value that lands on the other side of a bf16 rounding boundary.
BF16_ULP = 2**-7
BF16_NAN_BITS = 0x7FC0
E4M3_MAX = 448.0
E5M2_MAX = 57344.0
GROUP = 128  # FP8 scale granularity: 1x128 activation groups, 128x128 weight blocks
ALIGN = 128  # rows per expert block of the contiguous MoE layout
CHUNK = 256  # slots per chunk of moe_count / moe_place_*
INT_SENTINEL = -123456789  # integer outputs start as this


def cdiv(a: int, b: int) -> int:
    return -(-a // b)


@dataclass
class Case:
    name: str
    kernels: tuple[str, ...]
    fn: Callable[["Ctx"], None]


CASES: list[Case] = []


def case(*kernels: str):
    """Registers a correctness case that covers `kernels` (the manifest names it launches)."""

    def wrap(fn):
        CASES.append(Case(fn.__name__, kernels, fn))
        return fn

    return wrap


class _NoOps:
    def __getattr__(self, name):
        return lambda *args: None


@dataclass
class Ctx:
    """What a case needs: the device the ops run on and the generator inputs come from."""

    dev: str
    # Every op a no-op (outputs stay poisoned): the self-check that each case can fail.
    noop: bool = False
    gen: torch.Generator = field(default_factory=lambda: torch.Generator().manual_seed(16))

    @property
    def ops(self):
        return _NoOps() if self.noop else torch.ops.mimo_kc

    def randn(self, *shape, dtype=torch.float32, scale=1.0) -> torch.Tensor:
        return (torch.randn(*shape, generator=self.gen, dtype=torch.float64) * scale).to(dtype)

    def uniform(self, *shape, lo=-1.0, hi=1.0, dtype=torch.float32) -> torch.Tensor:
        return (lo + (hi - lo) * torch.rand(*shape, generator=self.gen, dtype=torch.float64)).to(dtype)

    def randint(self, lo: int, hi: int, *shape) -> torch.Tensor:
        return torch.randint(lo, hi, shape, generator=self.gen, dtype=torch.int32)

    def to(self, *ts: torch.Tensor):
        """Inputs on the op device (contiguous copies)."""
        out = tuple(t.contiguous().to(self.dev) for t in ts)
        return out[0] if len(out) == 1 else out

    def poisoned(self, *shape, dtype) -> torch.Tensor:
        """An output buffer that starts as NaN (fp8: the 0xFF NaN code; integers: a sentinel no
        kernel writes), so an element the kernel should write but does not shows up."""
        if dtype in (torch.float8_e4m3fn, torch.float8_e5m2):
            return torch.full(shape, 0xFF, dtype=torch.uint8, device=self.dev).view(dtype)
        if dtype.is_floating_point:
            return torch.full(shape, math.nan, dtype=dtype, device=self.dev)
        return torch.full(shape, INT_SENTINEL, dtype=dtype, device=self.dev)


def close(name: str, got: torch.Tensor, want: torch.Tensor, rtol: float, atol: float, mask: torch.Tensor | None = None):
    """|got - want| <= atol + rtol |want| elementwise (want in float64); NaN in got never passes.
    `mask` limits the comparison to the elements the kernel owns."""
    g, w = got.detach().cpu().double(), want.double()
    if g.shape != w.shape:
        raise AssertionError(f"{name}: output shape {list(g.shape)}, reference {list(w.shape)}")
    if mask is not None:
        g, w = g[mask], w[mask]
    err = (g - w).abs()
    bound = atol + rtol * w.abs()
    bad = ~(err <= bound)  # NaN compares false: an unwritten (poisoned) element fails
    if bool(bad.any()):
        i = int(torch.nonzero(bad.flatten())[0])
        raise AssertionError(f"{name}: {int(bad.sum())} of {bad.numel()} elements off; first, flat index {i}: got {g.flatten()[i].item()}, "
                             f"expected {w.flatten()[i].item()} (|err| {err.flatten()[i].item():.3g} > {bound.flatten()[i].item():.3g}; rtol {rtol}, atol {atol})")


def bits(t: torch.Tensor) -> torch.Tensor:
    """The raw bits of a tensor as integers (for bit-exact comparisons)."""
    t = t.detach().cpu().contiguous()
    view = {1: torch.uint8, 2: torch.int16, 4: torch.int32}[t.element_size()]
    mask = {1: 0xFF, 2: 0xFFFF, 4: 0xFFFFFFFF}[t.element_size()]
    return t.view(view).to(torch.int64) & mask


def bits_equal(name: str, got: torch.Tensor, want: torch.Tensor, inputs: torch.Tensor | None = None):
    g, w = bits(got), bits(want)
    if g.shape != w.shape:
        raise AssertionError(f"{name}: output shape {list(g.shape)}, reference {list(w.shape)}")
    bad = torch.nonzero((g != w).flatten())
    if len(bad):
        i = int(bad[0])
        x = f" (input {inputs.flatten()[i].item()})" if inputs is not None else ""
        raise AssertionError(f"{name}: {len(bad)} of {g.numel()} elements differ; first at {i}: bits {int(g.flatten()[i]):#x}, expected {int(w.flatten()[i]):#x}{x}")


def equal(name: str, got: torch.Tensor, want: torch.Tensor):
    """Integer outputs: exactly equal."""
    g, w = got.detach().cpu().to(torch.int64), want.to(torch.int64)
    if g.shape != w.shape:
        raise AssertionError(f"{name}: output shape {list(g.shape)}, reference {list(w.shape)}")
    bad = torch.nonzero((g != w).flatten())
    if len(bad):
        i = int(bad[0])
        raise AssertionError(f"{name}: {len(bad)} of {g.numel()} elements differ; first at flat index {i}: got {int(g.flatten()[i])}, expected {int(w.flatten()[i])}")


def sum_bound(name: str, got: torch.Tensor, want: torch.Tensor, abs_terms: torch.Tensor, n_terms: int):
    """An f32 sum of n products against float64: within n 2^-23 sum|terms| (the worst-case bound
    with the unit roundoff doubled, as tensor cores may truncate their internal additions)."""
    g = got.detach().cpu().double()
    err = (g - want).abs()
    bound = n_terms * 2**-23 * abs_terms + 1e-30
    if not bool((err <= bound).all()):
        i = int(torch.argmax(torch.nan_to_num(err - bound, nan=math.inf)))
        raise AssertionError(f"{name}: element {i} is {g.flatten()[i].item()}, expected {want.flatten()[i].item()}, "
                             f"beyond the f32 summation bound {bound.flatten()[i].item():.3g}")


def fp8_diff(got: torch.Tensor, want: torch.Tensor) -> float:
    """DeepGEMM's FP8 check: 1 - 2 sum(xy) / sum(x^2 + y^2); 0 when equal."""
    x, y = got.detach().cpu().double().flatten(), want.double().flatten()
    sq = float((x * x + y * y).sum())
    return 0.0 if sq == 0 else 1 - 2 * float((x * y).sum()) / sq


def diff_within(name: str, got: torch.Tensor, want: torch.Tensor, limit: float):
    if bool(torch.isnan(got.detach().cpu().double()).any()):
        raise AssertionError(f"{name}: output holds NaN (an element was not written)")
    d = fp8_diff(got, want)
    if not d <= limit:
        raise AssertionError(f"{name}: DeepGEMM diff {d:.3g} exceeds {limit:.0e}")


# ---- FP8 block quantisation in float64 (DeepGEMM's recipe), for the FP8 GEMM inputs --------

def e4m3(x: torch.Tensor) -> torch.Tensor:
    """RNE e4m3, saturating at +-448 as the kernels do (torch maps values past 448 to NaN)."""
    return x.float().clamp(-E4M3_MAX, E4M3_MAX).to(torch.float8_e4m3fn)


def quant_rows(x: torch.Tensor):
    """x[..., K] in 1x128 groups: codes, f32 scales [..., cdiv(K, 128)] and the dequantised values."""
    k = x.shape[-1]
    g = cdiv(k, GROUP)
    pad = torch.nn.functional.pad(x.double(), (0, g * GROUP - k)).reshape(*x.shape[:-1], g, GROUP)
    s = (pad.abs().amax(-1).clamp_min(1e-4) / E4M3_MAX).float()
    q = e4m3((pad / s.double()[..., None]).reshape(*x.shape[:-1], g * GROUP)[..., :k])
    deq = (q.double().reshape(*x.shape[:-1], -1)
           * torch.repeat_interleave(s.double(), GROUP, -1)[..., :k])
    return q, s, deq


def quant_blocks(w: torch.Tensor):
    """w[E, N, K] in 128x128 blocks: codes, f32 scales [E, cdiv(N, 128), cdiv(K, 128)], dequantised values."""
    e, n, k = w.shape
    nb, kb = cdiv(n, GROUP), cdiv(k, GROUP)
    pad = torch.nn.functional.pad(w.double(), (0, kb * GROUP - k, 0, nb * GROUP - n))
    blocks = pad.reshape(e, nb, GROUP, kb, GROUP)
    s = (blocks.abs().amax((2, 4)).clamp_min(1e-4) / E4M3_MAX).float()
    full = s.double().repeat_interleave(GROUP, 1).repeat_interleave(GROUP, 2)[:, :n, :k]
    q = e4m3(w.double() / full)
    return q, s, q.double() * full


def silu(x: torch.Tensor) -> torch.Tensor:
    return x * torch.sigmoid(x)
