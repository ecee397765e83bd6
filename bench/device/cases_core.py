"""Correctness cases: FP8 casts and block quantisation, norms, softmax, GEMMs and the model glue
(ops/fp8, ops/*.ts, ops/model). Small odd shapes, so that partial tiles and rows run."""
from __future__ import annotations

import math

import torch

from common import (BF16_ULP, E4M3_MAX, E5M2_MAX, GROUP, Ctx, bits_equal, case, cdiv, close, quant_blocks, silu,
                    sum_bound)

F32_SPECIALS = [0.0, -0.0, 448.0, -448.0, 464.0, 1e6, -1e6, math.inf, -math.inf, 2.0**-9, 2.0**-10, 3 * 2.0**-10, 57344.0, 61440.0, 2.0**-17]


def fp8_ref(x: torch.Tensor, dtype) -> torch.Tensor:
    """The casts' rule: RNE, saturating to the largest finite value, NaN -> 0x7f."""
    lim = E4M3_MAX if dtype == torch.float8_e4m3fn else E5M2_MAX
    y = x.float().clamp(-lim, lim).to(dtype).view(torch.uint8).clone()
    y[torch.isnan(x.float())] = 0x7F
    return y.view(dtype)


def cast_inputs(ctx: Ctx, dtype) -> torch.Tensor:
    x = torch.cat([torch.tensor(F32_SPECIALS + [math.nan]), ctx.randn(300, scale=60), ctx.randn(100, scale=1e-3), ctx.randn(100, scale=3e4)])
    return x.to(dtype)


@case("cast_f32_to_e4m3", "cast_f32_to_e5m2", "cast_bf16_to_e4m3", "cast_bf16_to_e5m2")
def casts_to_fp8(ctx: Ctx):
    for src, name in ((torch.float32, "f32"), (torch.bfloat16, "bf16")):
        x = cast_inputs(ctx, src)
        for dst, fmt in ((torch.float8_e4m3fn, "e4m3"), (torch.float8_e5m2, "e5m2")):
            kernel = f"cast_{name}_to_{fmt}"
            y = ctx.poisoned(x.numel(), dtype=dst)
            getattr(ctx.ops, kernel)(ctx.to(x), y, x.numel())
            bits_equal(kernel, y, fp8_ref(x, dst), x)


@case("cast_f32_to_bf16")
def cast_f32_to_bf16(ctx: Ctx):
    x = torch.cat([torch.tensor([0.0, -0.0, 3.4e38, -3.4e38, 1e-40, 1.00390625, 1.01171875, math.inf, math.nan]), ctx.randn(301, scale=1e3)])
    y = ctx.poisoned(x.numel(), dtype=torch.bfloat16)
    ctx.ops.cast_f32_to_bf16(ctx.to(x), y, x.numel())
    want = x.to(torch.bfloat16).view(torch.int16).clone()
    want[torch.isnan(x)] = 0x7FFF
    bits_equal("cast_f32_to_bf16", y, want.view(torch.bfloat16), x)


@case("cast_e4m3_to_f32", "cast_e5m2_to_f32", "cast_e4m3_to_bf16", "cast_e5m2_to_bf16")
def casts_from_fp8(ctx: Ctx):
    codes = torch.arange(256, dtype=torch.uint8)  # every code, NaNs included
    for src, fmt in ((torch.float8_e4m3fn, "e4m3"), (torch.float8_e5m2, "e5m2")):
        x = codes.view(src)
        nan = torch.isnan(x.float())
        for dst, name in ((torch.float32, "f32"), (torch.bfloat16, "bf16")):
            kernel = f"cast_{fmt}_to_{name}"
            y = ctx.poisoned(256, dtype=dst)
            getattr(ctx.ops, kernel)(ctx.to(x), y, 256)
            got = y.cpu()
            if not bool(torch.isnan(got[nan].float()).all()):
                raise AssertionError(f"{kernel}: a NaN code did not decode to NaN")
            if dst == torch.bfloat16:  # the doc pins bf16's NaN to 0x7fff
                bits_equal(f"{kernel} (NaN codes)", got[nan], torch.full((int(nan.sum()),), 0x7FFF, dtype=torch.int16).view(torch.bfloat16))
            bits_equal(kernel, got[~nan], x.float()[~nan].to(dst), x.float()[~nan])


@case("quant_act_e4m3")
def quant_act_e4m3(ctx: Ctx):
    t, k = 5, 300  # a partial last group
    g = cdiv(k, GROUP)
    # A different magnitude per group: an all-zero group, one under the 1e-4 clamp, large ones.
    amp = torch.tensor([0.0, 1e-6, 1.0, 448.0, 3e3, 0.01, 7.0, 1.0, 50.0, 0.5, 2.0, 1e-3, 9.0, 100.0, 0.1])[: t * g].reshape(t, g)
    x = (ctx.uniform(t, g * GROUP) * torch.repeat_interleave(amp, GROUP, 1))[:, :k].to(torch.bfloat16)
    q, s = ctx.poisoned(t, k, dtype=torch.float8_e4m3fn), ctx.poisoned(t, g, dtype=torch.float32)
    ctx.ops.quant_act_e4m3(ctx.to(x), q, s, t, k)
    xf = torch.nn.functional.pad(x.float(), (0, g * GROUP - k)).reshape(t, g, GROUP)
    # f32(max(amax, f32(1e-4)) / 448) and e4m3(f32(x / s)): the same f32 operations, bit for bit.
    want_s = torch.maximum(xf.abs().amax(-1), torch.tensor(1e-4, dtype=torch.float32)) / torch.tensor(E4M3_MAX, dtype=torch.float32)
    bits_equal("quant_act_e4m3 scales", s, want_s)
    want_q = fp8_ref((xf / want_s[..., None]).reshape(t, g * GROUP)[:, :k], torch.float8_e4m3fn)
    bits_equal("quant_act_e4m3 codes", q, want_q)


@case("dequant_w_e4m3")
def dequant_w_e4m3(ctx: Ctx):
    n, k = 150, 260
    codes = torch.randint(0, 256, (n, k), generator=ctx.gen, dtype=torch.uint8)
    codes[(codes & 0x7F) == 0x7F] ^= 1  # no NaN codes in weights
    w = codes.view(torch.float8_e4m3fn)
    nb, kb = cdiv(n, GROUP), cdiv(k, GROUP)
    scales = (2.0 ** -torch.randint(0, 24, (nb, kb), generator=ctx.gen).double() * (1 + ctx.uniform(nb, kb, lo=0, hi=1).double())).float()
    out = ctx.poisoned(n, k, dtype=torch.bfloat16)
    ctx.ops.dequant_w_e4m3(ctx.to(w), ctx.to(scales), out, n, k)
    full = scales.repeat_interleave(GROUP, 0).repeat_interleave(GROUP, 1)[:n, :k]
    bits_equal("dequant_w_e4m3", out, (w.float() * full).to(torch.bfloat16))  # bf16(f32(w) * s)


def rms_ref(x64: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return (x64 * torch.rsqrt((x64 * x64).mean(-1, keepdim=True) + 1e-5) * w.double()).to(torch.bfloat16).double()


@case("rmsnorm")
def rmsnorm(ctx: Ctx):
    t, d = 3, 4099
    x, w = ctx.randn(t, d, dtype=torch.bfloat16), ctx.randn(d, dtype=torch.bfloat16)
    y = ctx.poisoned(t, d, dtype=torch.bfloat16)
    ctx.ops.rmsnorm(*ctx.to(x, w), y, t, d)
    close("rmsnorm", y, rms_ref(x.double(), w), BF16_ULP, 0.0)


@case("add_rmsnorm")
def add_rmsnorm(ctx: Ctx):
    t, d = 5, 333
    a, b, w = ctx.randn(t, d, dtype=torch.bfloat16), ctx.randn(t, d, dtype=torch.bfloat16), ctx.randn(d, dtype=torch.bfloat16)
    s, y = ctx.poisoned(t, d, dtype=torch.bfloat16), ctx.poisoned(t, d, dtype=torch.bfloat16)
    ctx.ops.add_rmsnorm(*ctx.to(a, b, w), s, y, t, d)
    want_s = (a.double() + b.double()).to(torch.bfloat16)
    bits_equal("add_rmsnorm sum", s, want_s)
    close("add_rmsnorm y", y, rms_ref(want_s.double(), w), BF16_ULP, 0.0)


@case("residual_add")
def residual_add(ctx: Ctx):
    n = 1031
    a, b = ctx.randn(n, dtype=torch.bfloat16), ctx.randn(n, dtype=torch.bfloat16, scale=4)
    out = ctx.poisoned(n, dtype=torch.bfloat16)
    ctx.ops.residual_add(*ctx.to(a, b), out, n)
    bits_equal("residual_add", out, (a.double() + b.double()).to(torch.bfloat16))


@case("swiglu")
def swiglu(ctx: Ctx):
    n = 5 * 67  # elementwise: [T, F] activations are passed flat
    g, u = ctx.randn(n, dtype=torch.bfloat16, scale=3), ctx.randn(n, dtype=torch.bfloat16)
    out = ctx.poisoned(n, dtype=torch.bfloat16)
    ctx.ops.swiglu(*ctx.to(g, u), out, n)
    close("swiglu", out, (silu(g.double()) * u.double()).to(torch.bfloat16).double(), BF16_ULP, 0.0)


@case("softmax")
def softmax(ctx: Ctx):
    r, n = 5, 1300
    x = ctx.randn(r, n, scale=4)
    y = ctx.poisoned(r, n, dtype=torch.float32)
    ctx.ops.softmax(ctx.to(x), y, r, n)
    close("softmax", y, torch.softmax(x.double(), -1), 1e-5, 1e-9)


@case("gemm_bf16", "gemm_f32")
def gemms(ctx: Ctx):
    m, n, k = 67, 45, 83
    for dtype, kernel in ((torch.bfloat16, "gemm_bf16"), (torch.float32, "gemm_f32")):
        a, b = ctx.randn(m, k, dtype=dtype), ctx.randn(k, n, dtype=dtype)
        out = ctx.poisoned(m, n, dtype=torch.float32)
        getattr(ctx.ops, kernel)(*ctx.to(a, b), out, m, n, k)
        a64, b64 = a.double(), b.double()
        # f32 products of f32 inputs are rounded once more: one extra term in the bound.
        sum_bound(kernel, out, a64 @ b64, a64.abs() @ b64.abs(), k + 1)


@case("router_logits")
def router_logits(ctx: Ctx):
    t, h, e = 3, 300, 37
    x, w = ctx.randn(t, h, dtype=torch.bfloat16), ctx.randn(e, h, scale=0.05)
    out = ctx.poisoned(t, e, dtype=torch.float32)
    ctx.ops.router_logits(*ctx.to(x, w), out, t, h, e)
    x64, w64 = x.double(), w.double()
    sum_bound("router_logits", out, x64 @ w64.T, x64.abs() @ w64.abs().T, h + 1)


def gather_ref(src: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """src[idx[r]] where idx[r] is a valid row, zeros elsewhere."""
    ok = (idx >= 0) & (idx < src.shape[0])
    out = torch.zeros(idx.numel(), src.shape[1], dtype=src.dtype)
    out[ok] = src[idx[ok].long()]
    return out


@case("embed_tokens", "gather_rows")
def gathers(ctx: Ctx):
    v, h, t = 50, 129, 9
    table = ctx.randn(v, h, dtype=torch.bfloat16)
    ids = torch.tensor([3, -1, 49, 50, 0, 2**31 - 1, -2**31, 7, 3], dtype=torch.int32)  # out of range on both sides
    out = ctx.poisoned(t, h, dtype=torch.bfloat16)
    ctx.ops.embed_tokens(ctx.to(table), ctx.to(ids), out, v, h, t)
    bits_equal("embed_tokens", out, gather_ref(table, ids))
    rows = ids[:7]
    out = ctx.poisoned(7, h, dtype=torch.bfloat16)
    ctx.ops.gather_rows(ctx.to(table), ctx.to(rows), out, v, h, 7)
    bits_equal("gather_rows", out, gather_ref(table, rows))


@case("concat_halves")
def concat_halves(ctx: Ctx):
    t, h = 5, 131
    a, b = ctx.randn(t, h, dtype=torch.bfloat16), ctx.randn(t, h, dtype=torch.bfloat16)
    out = ctx.poisoned(t, 2 * h, dtype=torch.bfloat16)
    ctx.ops.concat_halves(*ctx.to(a, b), out, t, h)
    bits_equal("concat_halves", out, torch.cat([a, b], 1))


@case("moe_gather", "moe_gather_fp8")
def moe_gathers(ctx: Ctx):
    t, h, topk = 6, 260, 2
    rows = torch.tensor([0, 11, -1, 5, 5, 2, -1, 7, 1], dtype=torch.int32)
    x = ctx.randn(t, h, dtype=torch.bfloat16)
    tok = torch.where(rows >= 0, rows // topk, -1)
    out = ctx.poisoned(rows.numel(), h, dtype=torch.bfloat16)
    ctx.ops.moe_gather(ctx.to(x), ctx.to(rows), out, t, h, rows.numel(), topk)
    bits_equal("moe_gather", out, gather_ref(x, tok))
    q, s, _ = quant_blocks(x.double()[None])  # any codes and scales will do; gathered as they are
    xq, xs = q[0], torch.rand(t, cdiv(h, GROUP), generator=ctx.gen) + 0.5
    hg = cdiv(h, GROUP)
    oq, os_ = ctx.poisoned(rows.numel(), h, dtype=torch.float8_e4m3fn), ctx.poisoned(rows.numel(), hg, dtype=torch.float32)
    ctx.ops.moe_gather_fp8(*ctx.to(xq, xs, rows), oq, os_, t, h, rows.numel(), topk)
    bits_equal("moe_gather_fp8 codes", oq, gather_ref(xq.view(torch.uint8), tok).view(torch.float8_e4m3fn))
    bits_equal("moe_gather_fp8 scales", os_, gather_ref(xs, tok))
