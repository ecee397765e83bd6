"""The GEMM rows of the peers table, at the shapes compiler/report/workload.ts reports for
mimo-v2-flash, and their own table: TFLOP/s and the fraction of the H200's published peaks.

- gemm_bf16 at o_proj prefill (T = 4096 tokens, N = hidden 4096, K = 64 heads x 128) against
  torch.matmul in bf16;
- the grouped expert GEMMs at prefill, T = 4096 with balanced routing (every expert 128 rows, the
  contiguous layout), BF16 against torch._grouped_mm and FP8 against torch._scaled_grouped_mm;
- the FP8 grouped GEMMs at decode, a batch of 16 tokens routed top-8 (the masked layout, C = 16),
  against torch._scaled_grouped_mm over the same rows: weight streaming, so the fraction that
  counts there is HBM's.

FP8 peers get row-wise unit scales: every block scale of ours is 1 here, so both compute the
same products. Where torch._scaled_grouped_mm cannot run (missing, or CPU torch, which has no
kernel for it) the peer is a loop of torch._scaled_mm over the experts, and the row says which.
"""
from __future__ import annotations

import torch

from common import GROUP, cdiv
from peer_common import PEAK_FP8, AGREE, Bench, Row, Sizes, first_line, measure

# compiler/report/machine.ts's sm_90a figures (NVIDIA's dense peaks for the H200 SXM), the ones
# issue 14's targets are stated against; test/device-script.test.ts checks they agree.
PUBLISHED_BF16 = 989.4e12
PUBLISHED_FP8 = 1978.9e12
PUBLISHED_HBM = 4.8e12
E4 = torch.float8_e4m3fn


def scaled_grouped(a: torch.Tensor, w: torch.Tensor, counts: list[int]):
    """a[rows, K] @ w[E, N, K]^T per expert group (counts[e] rows each), e4m3 with unit row-wise
    scales, bf16 out: (the call, the peer's name, why the fallback was taken or '')."""
    dev, (e, n, _) = a.device, w.shape
    offs = torch.tensor(counts, dtype=torch.int32, device=dev).cumsum(0, dtype=torch.int32)
    sa, sb = torch.ones(a.shape[0], device=dev), torch.ones(e, n, device=dev)
    grouped = lambda: torch._scaled_grouped_mm(a, w.transpose(-2, -1), sa, sb, offs=offs, out_dtype=torch.bfloat16)
    try:
        grouped()
        return grouped, "torch._scaled_grouped_mm", ""
    except (AttributeError, NotImplementedError, RuntimeError) as err:
        why = first_line(err, 120).split(". ")[0]
    bounds = [(i, sum(counts[:i]), sum(counts[: i + 1])) for i in range(e) if counts[i]]
    sa2, sb2 = sa[:, None], torch.ones(1, n, device=dev)

    def loop():
        return torch.cat([torch._scaled_mm(a[s:t], w[i].t(), sa2[s:t], sb2, out_dtype=torch.bfloat16) for i, s, t in bounds])

    return loop, f"torch._scaled_mm loop over {len(bounds)} experts", f"torch._scaled_grouped_mm unavailable ({why})"


def dense_rows(dev: str, s: Sizes, b: Bench, ops) -> list[Row]:
    m, n, k = s.gemm_mnk
    g = torch.Generator(device=dev).manual_seed(8)
    a = torch.empty(m, k, dtype=torch.bfloat16, device=dev).uniform_(-1, 1, generator=g)
    w = torch.empty(k, n, dtype=torch.bfloat16, device=dev).uniform_(-(k**-0.5), k**-0.5, generator=g)
    out = torch.empty(m, n, device=dev)
    row = Row("gemm_bf16", f"o_proj prefill M={m} N={n} K={k}", gemm=True)
    peer = lambda: torch.matmul(a, w)
    # Ours writes f32, the peer bf16: each is charged its own output bytes in its floor, ours here.
    measure(row, b, lambda: ops.gemm_bf16(a, w, out, m, n, k), peer, "torch.matmul (bf16)", 2 * m * n * k, 2 * (a.numel() + w.numel()) + 4 * out.numel(),
            compare=lambda: (out, peer()))
    return [row]


def grouped_rows(dev: str, s: Sizes, b: Bench, ops) -> list[Row]:
    """Prefill: every expert holds rows_per_expert rows (balanced routing, already ALIGN-padded),
    the contiguous layout; the peer gets the same rows as group offsets. Decode: the masked layout
    of one step's routing, the peer the same rows packed."""
    e, r, h, f = s.experts, s.rows_per_expert, s.hidden, s.width
    m = e * r
    g = torch.Generator(device=dev).manual_seed(6)
    # Drawn in place as bf16: an f32 temporary of a 4 GB weight would be 17 GB.
    rnd = lambda *shape, scale=1.0: torch.empty(*shape, dtype=torch.bfloat16, device=dev).uniform_(-scale, scale, generator=g)
    row_expert = torch.arange(e, dtype=torch.int32, device=dev).repeat_interleave(r)
    rows = []
    x = rnd(m, h)
    wgu = rnd(e, 2 * f, h, scale=h**-0.5)  # gate rows then up rows: the peer's one GEMM
    wg, wu = wgu[:, :f].contiguous(), wgu[:, f:].contiguous()
    wd = rnd(e, h, f, scale=f**-0.5)
    hbuf, y = torch.empty(m, f, dtype=torch.bfloat16, device=dev), torch.empty(m, h, dtype=torch.bfloat16, device=dev)
    glu = lambda gu: torch.nn.functional.silu(gu[:, :f]) * gu[:, f:]
    shape = f"prefill T={m // s.topk} balanced: E={e} M={m} H={h} F={f}"
    offs = torch.arange(1, e + 1, dtype=torch.int32, device=dev) * r

    row = Row("moe_gate_up_bf16", shape, gemm=True)
    rows.append(row)
    peer = lambda: glu(torch._grouped_mm(x, wgu.transpose(-2, -1), offs=offs))
    measure(row, b, lambda: ops.moe_gate_up_bf16(x, wg, wu, row_expert, hbuf, m, h, e, f), peer, "torch._grouped_mm + silu*mul",
            2 * m * h * 2 * f, 2 * (wgu.numel() + x.numel() + hbuf.numel()), compare=lambda: (hbuf, peer()))
    row = Row("moe_down_bf16", shape, gemm=True)
    rows.append(row)
    peer = lambda: torch._grouped_mm(hbuf, wd.transpose(-2, -1), offs=offs)
    measure(row, b, lambda: ops.moe_down_bf16(hbuf, wd, row_expert, y, m, h, e, f), peer, "torch._grouped_mm",
            2 * m * f * h, 2 * (wd.numel() + hbuf.numel() + y.numel()), compare=lambda: (y, peer()))

    # Times 16 keeps the codes off the subnormals; every value stays far under 448 (no saturation).
    xq, wguq, wdq = ((t * 16).to(E4) for t in (x, wgu, wd))
    wgq, wuq = wguq[:, :f].contiguous(), wguq[:, f:].contiguous()
    fb, hb, hg, fg = cdiv(f, GROUP), cdiv(h, GROUP), cdiv(h, GROUP), cdiv(f, GROUP)
    one = lambda *shape: torch.ones(*shape, device=dev)
    wgs, wds = one(e, fb, hg), one(e, hb, fg)
    hq8 = (hbuf * 16).to(E4)
    counts = [r] * e
    shape8 = shape + " e4m3"

    row = Row("moe_gate_up_fp8", shape8, gemm=True)
    rows.append(row)
    call, name, why = scaled_grouped(xq, wguq, counts)
    peer = lambda: glu(call())
    measure(row, b, lambda: ops.moe_gate_up_fp8(xq, one(m, hg), wgq, wuq, wgs, wgs, row_expert, hbuf, m, h, e, f), peer,
            f"{name} + silu*mul", 2 * m * h * 2 * f, wguq.numel() + xq.numel() + 2 * hbuf.numel(), PEAK_FP8, compare=lambda: (hbuf, peer()))
    row.note = "; ".join(x for x in (row.note, why) if x)
    row = Row("moe_down_fp8", shape8, gemm=True)
    rows.append(row)
    call, name, why = scaled_grouped(hq8, wdq, counts)
    measure(row, b, lambda: ops.moe_down_fp8(hq8, one(m, fg), wdq, wds, row_expert, y, m, h, e, f), call,
            name, 2 * m * f * h, wdq.numel() + hq8.numel() + 2 * y.numel(), PEAK_FP8, compare=lambda: (y, call()))
    row.note = "; ".join(x for x in (row.note, why) if x)
    rows += decode_rows(dev, s, b, ops, wguq, wgq, wuq, wgs, wdq, wds, g)
    return rows


def decode_rows(dev: str, s: Sizes, b: Bench, ops, wguq, wgq, wuq, wgs, wdq, wds, g) -> list[Row]:
    """One decode step: moe_decode_t tokens, each routed to topk distinct experts drawn at random
    (what a balanced router does to one small batch); expert e gets counts[e] <= C rows."""
    e, h, f, c = s.experts, s.hidden, s.width, s.moe_decode_t
    picks = torch.stack([torch.randperm(e, generator=torch.Generator().manual_seed(100 + t))[: s.topk] for t in range(c)])
    counts = torch.bincount(picks.flatten(), minlength=e).tolist()
    owned = torch.arange(c)[None, :] < torch.tensor(counts)[:, None]  # [E, C]: rows r < counts[e]
    owned_dev = owned.to(dev)
    mcount = torch.tensor(counts, dtype=torch.int32, device=dev)
    n_rows, touched = sum(counts), sum(1 for n in counts if n)
    one = lambda *shape: torch.ones(*shape, device=dev)
    rnd8 = lambda *shape: (torch.empty(*shape, dtype=torch.bfloat16, device=dev).uniform_(-16, 16, generator=g)).to(E4)
    xm, hm = rnd8(e, c, h), rnd8(e, c, f)
    hout, yout = torch.zeros(e, c, f, dtype=torch.bfloat16, device=dev), torch.zeros(e, c, h, dtype=torch.bfloat16, device=dev)
    xr, hr = xm[owned_dev].contiguous(), hm[owned_dev].contiguous()  # the same rows, packed by expert
    glu = lambda gu: torch.nn.functional.silu(gu[:, :f]) * gu[:, f:]
    shape = f"decode B={c} top{s.topk}: {touched} of {e} experts, {n_rows} rows, C={c} H={h} F={f} e4m3"
    rows = []

    row = Row("moe_gate_up_fp8_masked", shape, gemm=True)
    rows.append(row)
    call, name, why = scaled_grouped(xr, wguq, counts)
    peer = lambda: glu(call())
    measure(row, b, lambda: ops.moe_gate_up_fp8_masked(xm, one(e, c, cdiv(h, GROUP)), wgq, wuq, wgs, wgs, mcount, hout, c, h, e, f), peer,
            f"{name} + silu*mul", 2 * n_rows * h * 2 * f, touched * 2 * f * h + xr.numel() + 2 * n_rows * f, PEAK_FP8,
            compare=lambda: (hout[owned_dev], peer()))
    row.note = "; ".join(x for x in (row.note, why) if x)
    row = Row("moe_down_fp8_masked", shape, gemm=True)
    rows.append(row)
    call, name, why = scaled_grouped(hr, wdq, counts)
    measure(row, b, lambda: ops.moe_down_fp8_masked(hm, one(e, c, cdiv(f, GROUP)), wdq, wds, mcount, yout, c, h, e, f), call,
            name, 2 * n_rows * f * h, touched * h * f + hr.numel() + 2 * n_rows * h, PEAK_FP8, compare=lambda: (yout[owned_dev], call()))
    row.note = "; ".join(x for x in (row.note, why) if x)
    return rows


def pct(part: float | None, whole: float) -> str:
    return "—" if part is None else f"{100 * part / whole:.1f}%"


def table(rows: list[Row]) -> str:
    """The GEMM rows again, as rates: TFLOP/s and GB/s of ours and the peer's, against the
    published peaks (tensor cores for prefill, HBM for decode's weight streaming)."""
    lines = [f"GEMMs against the published H200 peaks ({PUBLISHED_BF16 / 1e12:.0f} TFLOP/s dense BF16, {PUBLISHED_FP8 / 1e12:.0f} FP8, "
             f"{PUBLISHED_HBM / 1e12:.1f} TB/s HBM; compiler/report/machine.ts):", "",
             "| op | shape | ours ms | ours TFLOP/s | % of tensor peak | ours TB/s | % of HBM | peer | peer ms | peer TFLOP/s | peer % of tensor peak | peer/ours | diff vs peer |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    rate = lambda amount, ms: None if not ms else amount / (ms * 1e-3)
    for r in (r for r in rows if r.gemm):
        peak = PUBLISHED_FP8 if r.fp8 else PUBLISHED_BF16
        ours, peer, bw = rate(r.flops, r.ours_ms), rate(r.flops, r.peer_ms), rate(r.nbytes, r.ours_ms)
        tf = lambda v: "—" if v is None else f"{v / 1e12:.1f}"
        ratio = f"{r.peer_ms / r.ours_ms:.2f}x" if r.peer_ms and r.ours_ms else "—"
        d = "—" if r.diff is None else f"{r.diff:.1e}" + (" (!)" if not r.diff <= AGREE else "")
        ms = lambda v: "—" if v is None else f"{v:.3f}"
        lines.append(f"| {r.name} | {r.shape} | {ms(r.ours_ms)} | {tf(ours)} | {pct(ours, peak)} | {'—' if bw is None else f'{bw / 1e12:.2f}'} | {pct(bw, PUBLISHED_HBM)} "
                     f"| {r.peer or '—'} | {ms(r.peer_ms)} | {tf(peer)} | {pct(peer, peak)} | {ratio} | {d} |")
    return "\n".join(lines) + "\n"
