"""Correctness cases: the GEMV-style rows kernels for steps of at most 16 rows (ops/rows),
against test/harness/rows-reference.ts's definitions: x.W^T, SwiGLU, weighted combine; FP8
weights quantised in 128x128 blocks, the reference multiplying by the dequantised values."""
from __future__ import annotations

import torch

from common import BF16_ULP, Ctx, case, close, quant_blocks, silu

T, K, N, E, TOPK = 5, 300, 70, 5, 2


def atol(k: int) -> float:
    """f32 accumulation of k products on O(1) data stays far below this; one wrong term (~1/k) is far above."""
    return 2**-16 * k**0.5


def weight(ctx: Ctx, fp8: bool, e: int, n: int, k: int):
    """(tensors as the kernel takes them, float64 values the reference multiplies by)."""
    w = ctx.uniform(e, n, k, lo=-k**-0.5, hi=k**-0.5, dtype=torch.bfloat16)
    if not fp8:
        return (w,), w.double()
    q, s, deq = quant_blocks(w)
    return (q, s), deq


def ids_with_edge_cases(ctx: Ctx) -> torch.Tensor:
    """ids[T, TOPK] with what routing can produce and what the kernels must survive: -1, an id
    past E, another negative id, and the same expert twice."""
    ids = ctx.randint(0, E, T, TOPK)
    ids[0, 1], ids[1, 0], ids[2, 1], ids[3] = -1, E, -5, 3
    return ids


def squeeze(ts):
    """Dense layers take the expert-free [N, K] weight and [cdiv(N, 128), cdiv(K, 128)] scales."""
    return tuple(t[0] for t in ts)


@case("linear_rows_bf16", "linear_rows_fp8", "logits_rows")
def linear_rows(ctx: Ctx):
    x = ctx.uniform(T, K, dtype=torch.bfloat16)
    for kernel, fp8 in (("linear_rows_bf16", False), ("linear_rows_fp8", True), ("logits_rows", False)):
        ts, w = weight(ctx, fp8, 1, N, K)
        want = x.double() @ w[0].T
        if kernel == "logits_rows":
            out = ctx.poisoned(T, N, dtype=torch.float32)
            ctx.ops.logits_rows(*ctx.to(x, *squeeze(ts)), out, T, K, N)
            close(kernel, out, want, 0.0, atol(K))
            continue
        y = ctx.poisoned(T, N, dtype=torch.bfloat16)
        getattr(ctx.ops, kernel)(*ctx.to(x, *squeeze(ts)), y, T, K, N)
        close(kernel, y, want.to(torch.bfloat16).double(), BF16_ULP, atol(K))


@case("gate_up_rows_bf16", "gate_up_rows_fp8")
def gate_up_rows(ctx: Ctx):
    h_, f = K, N
    x = ctx.uniform(T, h_, dtype=torch.bfloat16)
    for kernel, fp8 in (("gate_up_rows_bf16", False), ("gate_up_rows_fp8", True)):
        (tg, wg), (tu, wu) = weight(ctx, fp8, 1, f, h_), weight(ctx, fp8, 1, f, h_)
        out = ctx.poisoned(T, f, dtype=torch.bfloat16)
        if fp8:
            ctx.ops.gate_up_rows_fp8(*ctx.to(x, tg[0][0], tu[0][0], tg[1][0], tu[1][0]), out, T, h_, f)
        else:
            ctx.ops.gate_up_rows_bf16(*ctx.to(x, tg[0][0], tu[0][0]), out, T, h_, f)
        x64 = x.double()
        want = silu(x64 @ wg[0].T) * (x64 @ wu[0].T)
        close(kernel, out, want.to(torch.bfloat16).double(), BF16_ULP, atol(h_))


@case("moe_gate_up_rows_bf16", "moe_gate_up_rows_fp8")
def moe_gate_up_rows(ctx: Ctx):
    h_, f = K, N
    x, ids = ctx.uniform(T, h_, dtype=torch.bfloat16), ids_with_edge_cases(ctx)
    for kernel, fp8 in (("moe_gate_up_rows_bf16", False), ("moe_gate_up_rows_fp8", True)):
        (tg, wg), (tu, wu) = weight(ctx, fp8, E, f, h_), weight(ctx, fp8, E, f, h_)
        out = ctx.poisoned(T, TOPK, f, dtype=torch.bfloat16)
        if fp8:
            ctx.ops.moe_gate_up_rows_fp8(*ctx.to(x, ids, tg[0], tu[0], tg[1], tu[1]), out, T, TOPK, h_, f, E)
        else:
            ctx.ops.moe_gate_up_rows_bf16(*ctx.to(x, ids, tg[0], tu[0]), out, T, TOPK, h_, f, E)
        want = torch.zeros(T, TOPK, f, dtype=torch.float64)  # zeros where the id is outside [0, E)
        for t in range(T):
            for j in range(TOPK):
                e = int(ids[t, j])
                if 0 <= e < E:
                    xt = x[t].double()
                    want[t, j] = silu(wg[e] @ xt) * (wu[e] @ xt)
        close(kernel, out, want.to(torch.bfloat16).double(), BF16_ULP, atol(h_))


@case("moe_down_rows_bf16", "moe_down_rows_fp8")
def moe_down_rows(ctx: Ctx):
    h_, f = N, K  # the weight is [E, H, F], its input rows h[T, TOPK, F]
    hin, ids = ctx.uniform(T, TOPK, f, dtype=torch.bfloat16), ids_with_edge_cases(ctx)
    rw = ctx.uniform(T, TOPK, lo=0, hi=1)
    for kernel, fp8 in (("moe_down_rows_bf16", False), ("moe_down_rows_fp8", True)):
        tw, wd = weight(ctx, fp8, E, h_, f)
        out = ctx.poisoned(T, h_, dtype=torch.bfloat16)
        if fp8:
            ctx.ops.moe_down_rows_fp8(*ctx.to(hin, ids, tw[0], tw[1], rw), out, T, TOPK, h_, f, E)
        else:
            ctx.ops.moe_down_rows_bf16(*ctx.to(hin, ids, tw[0], rw), out, T, TOPK, h_, f, E)
        want = torch.zeros(T, h_, dtype=torch.float64)  # slots with ids outside [0, E) skipped
        for t in range(T):
            for j in range(TOPK):
                e = int(ids[t, j])
                if 0 <= e < E:
                    want[t] += rw[t, j].double() * (wd[e] @ hin[t, j].double())
        close(kernel, out, want.to(torch.bfloat16).double(), BF16_ULP, atol(f))
