"""Correctness cases: the router, the routing permutation into the contiguous and masked
layouts, the grouped GEMMs (BF16 and block FP8, both layouts) and the combine (ops/moe).
References follow test/harness/moe-reference.ts and router-reference.ts."""
from __future__ import annotations

import torch

from common import (ALIGN, CHUNK, GROUP, Ctx, case, cdiv, close, diff_within, equal, quant_blocks, quant_rows, silu)

# bf16 out of f32 accumulation on O(1) data (weights ~ U(-1, 1)/sqrt(K)): one bf16 ulp, plus
# an absolute allowance far above f32 summation error and far below one wrong term (~1/K).
GEMM_RTOL, GEMM_ATOL = 2**-7, 2**-12
# DeepGEMM accepts an FP8 GEMM at diff < 1e-3, which a uniform 1% error (diff 5e-5) passes.
# Here the reference multiplies the same dequantised values, so only f32 accumulation (even at
# the ~14-bit precision DeepGEMM reports for Hopper's FP8 MMA: ~1e-8) and the bf16 output
# (~1.4e-6 measured through the emulator) separate them.
FP8_DIFF = 1e-5


def route_ref(ids: torch.Tensor, e: int, c: int):
    """Rows of each expert in (token, slot) order; ids outside [0, E) are not routed."""
    flat = ids.flatten().tolist()
    slots = len(flat)
    mp = slots + min(e, slots) * (ALIGN - 1)
    counts, rank = [0] * e, [-1] * slots
    for s, x in enumerate(flat):
        if 0 <= x < e:
            rank[s], counts[x] = counts[x], counts[x] + 1
    offsets = [0] * e
    for x in range(1, e):
        offsets[x] = offsets[x - 1] + cdiv(counts[x - 1], ALIGN) * ALIGN
    row_index, row_expert, slot_row = [-1] * mp, [-1] * mp, [-1] * slots
    row_index_m, slot_row_m = [-1] * (e * c), [-1] * slots
    for s, x in enumerate(flat):
        if rank[s] < 0:
            continue
        row = offsets[x] + rank[s]
        row_index[row], row_expert[row], slot_row[s] = s, x, row
        if rank[s] < c:
            row_index_m[x * c + rank[s]], slot_row_m[s] = s, x * c + rank[s]
    nc = cdiv(slots, CHUNK)
    chunk_counts = torch.zeros(nc, e, dtype=torch.int64)
    for s, x in enumerate(flat):
        if 0 <= x < e:
            chunk_counts[s // CHUNK, x] += 1
    chunk_offsets = torch.cumsum(chunk_counts, 0) - chunk_counts
    i32 = lambda xs: torch.tensor(xs, dtype=torch.int32)
    return dict(counts=i32(counts), offsets=i32(offsets), row_index=i32(row_index), row_expert=i32(row_expert), slot_row=i32(slot_row).reshape(ids.shape),
                row_index_m=i32(row_index_m).reshape(e, c), slot_row_m=i32(slot_row_m).reshape(ids.shape), masked_count=i32([min(n, c) for n in counts]),
                chunk_counts=chunk_counts.int(), chunk_offsets=chunk_offsets.int(), mp=mp, nc=nc)


@case("moe_count", "moe_scan", "moe_place_contiguous", "moe_place_masked")
def routing(ctx: Ctx):
    t, topk, e, c = 300, 3, 9, 90  # 900 slots in 4 chunks; capacity 90 < ~100 per expert drops some
    ids = ctx.randint(0, e, t, topk)
    ids[0, 0], ids[5, 2], ids[7, 1] = -1, e, -1  # not routed
    ids[:40] = 4  # a skewed expert
    r = route_ref(ids, e, c)
    nc, mp = r["nc"], r["mp"]
    cc = ctx.poisoned(nc, e, dtype=torch.int32)
    ctx.ops.moe_count(ctx.to(ids), cc, t, topk, e)
    equal("moe_count chunkCounts", cc, r["chunk_counts"])
    co, counts, offsets = ctx.poisoned(nc, e, dtype=torch.int32), ctx.poisoned(e, dtype=torch.int32), ctx.poisoned(e, dtype=torch.int32)
    ctx.ops.moe_scan(ctx.to(r["chunk_counts"]), co, counts, offsets, nc, e)
    equal("moe_scan chunkOffsets", co, r["chunk_offsets"])
    equal("moe_scan counts", counts, r["counts"])
    equal("moe_scan offsets", offsets, r["offsets"])
    ri, re_, sr = ctx.poisoned(mp, dtype=torch.int32), ctx.poisoned(mp, dtype=torch.int32), ctx.poisoned(t, topk, dtype=torch.int32)
    ctx.ops.moe_place_contiguous(*ctx.to(ids, r["chunk_offsets"], r["counts"], r["offsets"]), ri, re_, sr, t, topk, e, mp)
    equal("moe_place_contiguous rowIndex", ri, r["row_index"])
    equal("moe_place_contiguous rowExpert", re_, r["row_expert"])
    equal("moe_place_contiguous slotRow", sr, r["slot_row"])
    rim, srm, mc = ctx.poisoned(e, c, dtype=torch.int32), ctx.poisoned(t, topk, dtype=torch.int32), ctx.poisoned(e, dtype=torch.int32)
    ctx.ops.moe_place_masked(*ctx.to(ids, r["chunk_offsets"], r["counts"]), rim, srm, mc, t, topk, e, c)
    equal("moe_place_masked rowIndex", rim, r["row_index_m"])
    equal("moe_place_masked slotRow", srm, r["slot_row_m"])
    equal("moe_place_masked maskedCount", mc, r["masked_count"])


@case("moe_combine")
def combine(ctx: Ctx):
    t, topk, rows, h = 7, 3, 30, 131
    y = ctx.randn(rows, h, dtype=torch.bfloat16)
    slot_row = ctx.randint(0, rows, t, topk)
    slot_row[1, 2], slot_row[4, 0] = -1, -1  # not routed / dropped: skipped
    w = ctx.uniform(t, topk, lo=0, hi=1)
    out = ctx.poisoned(t, h, dtype=torch.bfloat16)
    ctx.ops.moe_combine(*ctx.to(y, slot_row, w), out, rows, h, t, topk)
    want = torch.zeros(t, h, dtype=torch.float64)
    for i in range(t):
        for j in range(topk):
            if slot_row[i, j] >= 0:
                want[i] += w[i, j].double() * y[slot_row[i, j]].double()
    close("moe_combine", out, want.to(torch.bfloat16).double(), 2**-7, 1e-5)


def sigmoid64(x):
    return torch.sigmoid(x.double())


@case("moe_router")
def router(ctx: Ctx):
    t, e, k = 37, 40, 5
    levels_b = ctx.uniform(8, lo=-0.1, hi=0.1)
    bias = levels_b[torch.randint(0, 8, (e,), generator=ctx.gen)]
    levels = ctx.uniform(6, lo=-2, hi=2)
    rows = []
    for i in range(t):
        while True:  # exact ties (identical inputs) are fine; near ties f32 could flip are redrawn
            row = levels[torch.randint(0, 6, (e,), generator=ctx.gen)] if i % 3 == 0 else ctx.randn(e, scale=1.6)
            if i % 11 == 7:
                row = torch.full((e,), 0.5)
            score = sigmoid64(row) + bias.double()
            order = sorted(range(e), key=lambda x: (-float(score[x]), x))[: k + 1]
            if all((row[a] == row[b] and bias[a] == bias[b]) or abs(float(score[a] - score[b])) > 1e-5 * abs(float(score[a])) for a, b in zip(order, order[1:])):
                rows.append(row)
                break
    logits = torch.stack(rows)
    ids, weights = ctx.poisoned(t, k, dtype=torch.int32), ctx.poisoned(t, k, dtype=torch.float32)
    ctx.ops.moe_router(*ctx.to(logits, bias), ids, weights, t, e, k)
    want_ids = torch.tensor([sorted(range(e), key=lambda x: (-float(sigmoid64(logits[i, x]) + bias[x]), x))[:k] for i in range(t)], dtype=torch.int32)
    equal("moe_router ids", ids, want_ids)
    s = sigmoid64(torch.gather(logits, 1, want_ids.long()))
    close("moe_router weights", weights, s / s.sum(1, keepdim=True), 1e-5, 1e-7)


def expert_weights(ctx: Ctx, e: int, n: int, k: int) -> torch.Tensor:
    return ctx.uniform(e, n, k, lo=-k**-0.5, hi=k**-0.5, dtype=torch.bfloat16)


def layouts(ctx: Ctx, e: int, h: int):
    """Permuted activations in both layouts: contiguous x[MP, H] with rowExpert[MP] (from real
    routing, padding rows zero) and masked x[E, C, H] with maskedCount[E] (one past C, one 0)."""
    t, topk = 40, 2
    ids = ctx.randint(0, e, t, topk)
    r = route_ref(ids, e, 1)
    tok = torch.where(r["row_index"] >= 0, r["row_index"] // topk, -1)
    x_tok = ctx.uniform(t, h, dtype=torch.bfloat16)
    x = torch.where((tok >= 0)[:, None], x_tok[tok.clamp_min(0).long()], torch.zeros((), dtype=torch.bfloat16))
    c = 37
    masked_count = torch.tensor([5, 45, 0] + [c] * (e - 3), dtype=torch.int32)
    xm = ctx.uniform(e, c, h, dtype=torch.bfloat16)
    return (x, r["row_expert"]), (xm, masked_count, c)


def glu(x64, wg64, wu64):
    return silu(x64 @ wg64.T) * (x64 @ wu64.T)


def per_row(x64: torch.Tensor, experts: torch.Tensor, fn) -> torch.Tensor:
    """fn(rows, e) for each expert's rows of x64 (rows of expert -1 stay zero)."""
    out = None
    for ex in experts.unique().tolist():
        if ex < 0:
            continue
        sel = experts == ex
        y = fn(x64[sel], ex)
        out = torch.zeros(x64.shape[0], y.shape[1], dtype=torch.float64) if out is None else out
        out[sel] = y
    return out


@case("moe_gate_up_bf16", "moe_gate_up_bf16_masked", "moe_down_bf16", "moe_down_bf16_masked")
def grouped_bf16(ctx: Ctx):
    e, h, f = 3, 160, 96
    wg, wu, wd = expert_weights(ctx, e, f, h), expert_weights(ctx, e, f, h), expert_weights(ctx, e, h, f)
    (x, row_expert), (xm, mcount, c) = layouts(ctx, e, h)
    m = x.shape[0]
    real = row_expert >= 0
    out = ctx.poisoned(m, f, dtype=torch.bfloat16)
    ctx.ops.moe_gate_up_bf16(*ctx.to(x, wg, wu, row_expert), out, m, h, e, f)
    want = per_row(x.double(), row_expert, lambda r, ex: glu(r, wg[ex].double(), wu[ex].double()))
    close("moe_gate_up_bf16", out, want.to(torch.bfloat16).double(), GEMM_RTOL, GEMM_ATOL, real[:, None].expand(m, f))
    hin = ctx.uniform(m, f, dtype=torch.bfloat16)
    y = ctx.poisoned(m, h, dtype=torch.bfloat16)
    ctx.ops.moe_down_bf16(*ctx.to(hin, wd, row_expert), y, m, h, e, f)
    want = per_row(hin.double(), row_expert, lambda r, ex: r @ wd[ex].double().T)
    close("moe_down_bf16", y, want.to(torch.bfloat16).double(), GEMM_RTOL, GEMM_ATOL, real[:, None].expand(m, h))

    owned = torch.arange(c)[None, :] < mcount.clamp(max=c)[:, None]  # rows r < min(maskedCount[e], C)
    out = ctx.poisoned(e, c, f, dtype=torch.bfloat16)
    ctx.ops.moe_gate_up_bf16_masked(*ctx.to(xm, wg, wu, mcount), out, c, h, e, f)
    want = torch.stack([glu(xm[ex].double(), wg[ex].double(), wu[ex].double()) for ex in range(e)])
    close("moe_gate_up_bf16_masked", out, want.to(torch.bfloat16).double(), GEMM_RTOL, GEMM_ATOL, owned[..., None].expand(e, c, f))
    hm = ctx.uniform(e, c, f, dtype=torch.bfloat16)
    y = ctx.poisoned(e, c, h, dtype=torch.bfloat16)
    ctx.ops.moe_down_bf16_masked(*ctx.to(hm, wd, mcount), y, c, h, e, f)
    want = torch.stack([hm[ex].double() @ wd[ex].double().T for ex in range(e)])
    close("moe_down_bf16_masked", y, want.to(torch.bfloat16).double(), GEMM_RTOL, GEMM_ATOL, owned[..., None].expand(e, c, h))


@case("moe_gate_up_fp8", "moe_gate_up_fp8_masked", "moe_down_fp8", "moe_down_fp8_masked")
def grouped_fp8(ctx: Ctx):
    e, h, f = 3, 300, 160  # partial 128-blocks along both H and F
    hg, fb = cdiv(h, GROUP), cdiv(f, GROUP)
    wgq, wgs, wg = quant_blocks(expert_weights(ctx, e, f, h))
    wuq, wus, wu = quant_blocks(expert_weights(ctx, e, f, h))
    wdq, wds, wd = quant_blocks(expert_weights(ctx, e, h, f))
    (x, row_expert), (xm, mcount, c) = layouts(ctx, e, h)
    m = x.shape[0]
    real = row_expert >= 0
    xq, xs, xd = quant_rows(x)
    out = ctx.poisoned(m, f, dtype=torch.bfloat16)
    ctx.ops.moe_gate_up_fp8(*ctx.to(xq, xs, wgq, wuq, wgs, wus, row_expert), out, m, h, e, f)
    want = per_row(xd, row_expert, lambda r, ex: glu(r, wg[ex], wu[ex]))
    diff_within("moe_gate_up_fp8", out.cpu()[real], want[real], FP8_DIFF)
    hq, hs, hd = quant_rows(ctx.uniform(m, f))
    y = ctx.poisoned(m, h, dtype=torch.bfloat16)
    ctx.ops.moe_down_fp8(*ctx.to(hq, hs, wdq, wds, row_expert), y, m, h, e, f)
    want = per_row(hd, row_expert, lambda r, ex: r @ wd[ex].T)
    diff_within("moe_down_fp8", y.cpu()[real], want[real], FP8_DIFF)

    owned = torch.arange(c)[None, :] < mcount.clamp(max=c)[:, None]
    xmq, xms, xmd = quant_rows(xm)
    out = ctx.poisoned(e, c, f, dtype=torch.bfloat16)
    ctx.ops.moe_gate_up_fp8_masked(*ctx.to(xmq, xms, wgq, wuq, wgs, wus, mcount), out, c, h, e, f)
    want = torch.stack([glu(xmd[ex], wg[ex], wu[ex]) for ex in range(e)])
    diff_within("moe_gate_up_fp8_masked", out.cpu()[owned], want[owned], FP8_DIFF)
    hmq, hms, hmd = quant_rows(ctx.uniform(e, c, f))
    y = ctx.poisoned(e, c, h, dtype=torch.bfloat16)
    ctx.ops.moe_down_fp8_masked(*ctx.to(hmq, hms, wdq, wds, mcount), y, c, h, e, f)
    want = torch.stack([hmd[ex] @ wd[ex].T for ex in range(e)])
    diff_within("moe_down_fp8_masked", y.cpu()[owned], want[owned], FP8_DIFF)
