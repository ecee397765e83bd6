"""The peers table: our ops against PyTorch's own kernels in the same run, at MiMo-V2-Flash's
shapes (model/presets.ts: hidden 4096; SWA 64 query / 8 KV heads, window 128 with a sink;
global 64 / 4; 256 experts, top 8, width 2048; head dims 192 / 128), as ratios and as a
fraction of the H200's limits. Each row: ours ms, the peer's ms, peer / ours (> 1: ours is
faster), our time's fraction of the roofline floor max(FLOPs / peak, bytes / bandwidth), and
how far our output is from the peer's (DeepGEMM's diff; the peers compute the same function).

Peer kernels: flex_attention (compiled on CUDA) with the same mask and the sink applied
through its log-sum-exp; torch._grouped_mm and torch._scaled_grouped_mm (FP8 with row-wise
scales: all our block scales are 1 here, so both compute the same products); torch's own
casts. A peer that cannot run here is 'n/a' with its reason; our op failing is an error.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Callable

import torch

from common import GROUP, cdiv

# The H200 limits the fractions are taken against: dense BF16 at the ~790 TFLOP/s measured on
# this workplace's H200s (/work/.library/device/KINDS.md; FP8 counted at twice that) and HBM3e at
# the datasheet's 4.8 TB/s.
PEAK_BF16 = 790e12
PEAK_FP8 = 2 * PEAK_BF16
HBM_BW = 4.8e12
DQK, DV, WINDOW = 192, 128, 128
AGREE = 1e-3  # DeepGEMM's acceptance; a larger diff between ours and the peer is flagged


@dataclass(frozen=True)
class Sizes:
    """The shapes of one table: the model's on the H200, tiny ones for the CPU dry run."""

    prefill_t: int
    swa_heads: tuple[int, int]  # (query, KV)
    global_heads: tuple[int, int]
    decode_b: int
    decode_ctx: int
    decode_p: int
    experts: int
    rows_per_expert: int
    hidden: int
    width: int
    cast_n: int
    quant_t: int


H200 = Sizes(prefill_t=8192, swa_heads=(64, 8), global_heads=(64, 4), decode_b=16, decode_ctx=16384, decode_p=16, experts=256, rows_per_expert=128, hidden=4096, width=2048, cast_n=1 << 28, quant_t=32768)
DRY = Sizes(prefill_t=160, swa_heads=(4, 2), global_heads=(2, 1), decode_b=2, decode_ctx=256, decode_p=2, experts=4, rows_per_expert=32, hidden=256, width=128, cast_n=4096, quant_t=8)


@dataclass
class Row:
    name: str
    shape: str
    ours_ms: float | None = None
    peer: str = ""
    peer_ms: float | None = None
    floor_ms: float | None = None
    limit: str = ""
    diff: float | None = None
    note: str = ""
    error: str = ""


class Bench:
    """Times callables on one device: CUDA events on a GPU (median of reps after warm-ups), the
    host clock on the CPU dry run."""

    def __init__(self, dev: str, warmup: int, reps: int):
        self.dev, self.warmup, self.reps = dev, warmup, reps

    def ms(self, fn: Callable[[], object]) -> float:
        for _ in range(self.warmup):
            fn()
        times = []
        for _ in range(self.reps):
            if self.dev == "cuda":
                a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                a.record()
                fn()
                b.record()
                b.synchronize()
                times.append(a.elapsed_time(b))
            else:
                t0 = time.perf_counter()
                fn()
                times.append((time.perf_counter() - t0) * 1e3)
        return statistics.median(times)


def diff(got: torch.Tensor, want: torch.Tensor) -> float:
    """DeepGEMM's 1 - 2 sum(xy) / sum(x^2 + y^2), on the tensors' device (the outputs here are
    hundreds of MB: a host copy would take longer than the timing)."""
    x, y = got.double().flatten(), want.to(got.device).double().flatten()
    sq = float((x * x + y * y).sum())
    return 0.0 if sq == 0 else 1 - 2 * float((x * y).sum()) / sq


def floor_ms(flops: float, nbytes: float, peak: float) -> tuple[float, str]:
    """The roofline floor and which limit sets it."""
    tf, tb = flops / peak * 1e3, nbytes / HBM_BW * 1e3
    return (tf, f"{peak / 1e12:.0f} TFLOP/s") if tf >= tb else (tb, f"{HBM_BW / 1e12:.1f} TB/s")


def measure(row: Row, b: Bench, ours, peer, peer_name: str, flops: float, nbytes: float, peak: float = PEAK_BF16, compare=None):
    """Fills a row: ours must run (else the row is an error); a peer that cannot is 'n/a'."""
    row.floor_ms, row.limit = floor_ms(flops, nbytes, peak)
    row.peer = peer_name
    try:
        row.ours_ms = b.ms(ours)
    except Exception as e:  # our op failing at the model's shape is what this row reports
        row.error = f"ours failed: {type(e).__name__}: {str(e).splitlines()[0][:160]}"
        return
    try:
        row.peer_ms = b.ms(peer)
    except Exception as e:
        row.note = f"peer n/a: {type(e).__name__}: {str(e).splitlines()[0][:120]}"
        return
    if compare is not None:
        row.diff = diff(*compare())


def attention_rows(dev: str, s: Sizes, b: Bench, ops, flex) -> list[Row]:
    from torch.nn.attention.flex_attention import create_block_mask

    rows = []
    g = torch.Generator(device=dev).manual_seed(5)
    rnd = lambda *shape, lo=-1.0, hi=1.0: (lo + (hi - lo) * torch.rand(*shape, generator=g, device=dev)).to(torch.bfloat16)
    t = s.prefill_t
    for kind, (hq, hkv) in (("swa", s.swa_heads), ("global", s.global_heads)):
        row = Row(f"{kind}_prefill", f"T={t} HQ={hq} HKV={hkv}" + (" window 128 + sink" if kind == "swa" else " causal"))
        rows.append(row)
        q, k, v = rnd(t, hq, DQK, lo=-3, hi=3), rnd(t, hkv, DQK, lo=-2, hi=2), rnd(t, hkv, DV)
        sink = torch.rand(hq, generator=g, device=dev) * 4 - 2
        cu = torch.tensor([0, t], dtype=torch.int32, device=dev)
        out = torch.empty(t, hq, DV, dtype=torch.bfloat16, device=dev)
        if kind == "swa":
            ours = lambda: ops.swa_prefill(q, k, v, sink, cu, cu, out, t, t, hq, hkv, 1)
            mask = lambda b_, h, qi, ki: (ki <= qi) & (qi - ki < WINDOW)
            pairs = sum(min(i + 1, WINDOW) for i in range(t))
        else:
            ours = lambda: ops.global_prefill(q, k, v, cu, cu, out, t, t, hq, hkv, 1)
            mask = lambda b_, h, qi, ki: ki <= qi
            pairs = t * (t + 1) // 2
        bm = create_block_mask(mask, None, None, t, t, device=dev)
        qf, kf, vf = (x.transpose(0, 1)[None].contiguous() for x in (q, k, v))  # [1, H, T, D]

        def peer(kind=kind, qf=qf, kf=kf, vf=vf, bm=bm, sink=sink):
            o, lse = flex(qf, kf, vf, block_mask=bm, scale=DQK**-0.5, enable_gqa=True, return_lse=True)
            if kind == "swa":  # the sink as one more logit column: o * Z / (Z + e^sink)
                o = o * torch.sigmoid(lse - sink[None, :, None])[..., None].to(o.dtype)
            return o

        flops = 2 * hq * (DQK + DV) * pairs
        nbytes = 2 * (q.numel() + k.numel() + v.numel() + out.numel())
        measure(row, b, ours, peer, "flex_attention", flops, nbytes, compare=lambda peer=peer, out=out: (out, peer()[0].transpose(0, 1)))
    # Decode: one new token per sequence over a full global-layer cache, split-K.
    bsz, n, (hq, hkv), p = s.decode_b, s.decode_ctx, s.global_heads, s.decode_p
    row = Row("global_decode", f"B={bsz} ctx={n} HQ={hq} HKV={hkv} P={p}")
    rows.append(row)
    q, kc, vc = rnd(bsz, 1, hq, DQK, lo=-3, hi=3), rnd(bsz, n, hkv, DQK, lo=-2, hi=2), rnd(bsz, n, hkv, DV)
    lens = torch.full((bsz,), n, dtype=torch.int32, device=dev)
    acc = torch.empty(bsz, 1, hq, p, DV, device=dev)
    mx, sm = torch.empty(bsz, 1, hq, p, device=dev), torch.empty(bsz, 1, hq, p, device=dev)
    out = torch.empty(bsz, 1, hq, DV, dtype=torch.bfloat16, device=dev)

    def ours():
        ops.global_decode_partial(q, kc, vc, lens, acc, mx, sm, bsz, 1, hq, hkv, n, p)
        ops.decode_merge(acc, mx, sm, out, bsz, 1, hq, p)

    qf, kf, vf = q.transpose(1, 2).contiguous(), kc.transpose(1, 2).contiguous(), vc.transpose(1, 2).contiguous()
    peer = lambda: flex(qf, kf, vf, scale=DQK**-0.5, enable_gqa=True)
    nbytes = 2 * (kc.numel() + vc.numel() + q.numel() + out.numel())
    measure(row, b, ours, peer, "flex_attention", 2 * bsz * hq * n * (DQK + DV), nbytes,
            compare=lambda: (out, peer().transpose(1, 2)))
    if row.ours_ms:
        row.note = (row.note + "; " if row.note else "") + f"ours {nbytes / row.ours_ms / 1e6:.0f} GB/s" + (f", peer {nbytes / row.peer_ms / 1e6:.0f} GB/s" if row.peer_ms else "")
    return rows


def grouped_rows(dev: str, s: Sizes, b: Bench, ops) -> list[Row]:
    """The MoE expert GEMMs at prefill: every expert holds rows_per_expert rows (balanced routing,
    already ALIGN-padded), the contiguous layout; the peer gets the same rows as group offsets."""
    e, r, h, f = s.experts, s.rows_per_expert, s.hidden, s.width
    m = e * r
    g = torch.Generator(device=dev).manual_seed(6)
    # Drawn in place as bf16: an f32 temporary of a 4 GB weight would be 17 GB.
    rnd = lambda *shape, scale=1.0: torch.empty(*shape, dtype=torch.bfloat16, device=dev).uniform_(-scale, scale, generator=g)
    row_expert = torch.arange(e, dtype=torch.int32, device=dev).repeat_interleave(r)
    offs = torch.arange(1, e + 1, dtype=torch.int32, device=dev) * r
    rows = []
    x = rnd(m, h)
    wgu = rnd(e, 2 * f, h, scale=h**-0.5)  # gate rows then up rows: the peer's one GEMM
    wg, wu = wgu[:, :f].contiguous(), wgu[:, f:].contiguous()
    wd = rnd(e, h, f, scale=f**-0.5)
    hbuf, y = torch.empty(m, f, dtype=torch.bfloat16, device=dev), torch.empty(m, h, dtype=torch.bfloat16, device=dev)
    glu = lambda gu: torch.nn.functional.silu(gu[:, :f]) * gu[:, f:]
    shape = f"E={e} M={m} H={h} F={f}"

    row = Row("moe_gate_up_bf16", shape)
    rows.append(row)
    peer = lambda: glu(torch._grouped_mm(x, wgu.transpose(-2, -1), offs=offs))
    measure(row, b, lambda: ops.moe_gate_up_bf16(x, wg, wu, row_expert, hbuf, m, h, e, f), peer, "torch._grouped_mm + silu*mul",
            2 * m * h * 2 * f, 2 * (wgu.numel() + x.numel() + hbuf.numel()), compare=lambda: (hbuf, peer()))
    row = Row("moe_down_bf16", shape)
    rows.append(row)
    peer = lambda: torch._grouped_mm(hbuf, wd.transpose(-2, -1), offs=offs)
    measure(row, b, lambda: ops.moe_down_bf16(hbuf, wd, row_expert, y, m, h, e, f), peer, "torch._grouped_mm",
            2 * m * f * h, 2 * (wd.numel() + hbuf.numel() + y.numel()), compare=lambda: (y, peer()))

    # FP8 with every scale 1: our 128x128 / 1x128 block scales and the peer's row-wise ones agree.
    e4 = torch.float8_e4m3fn
    # Times 16 keeps the codes off the subnormals; every value stays far under 448 (no saturation).
    xq, wguq, wdq = ((t * 16).to(e4) for t in (x, wgu, wd))
    wgq, wuq = wguq[:, :f].contiguous(), wguq[:, f:].contiguous()
    hg, fb, hb, fg = cdiv(h, GROUP), cdiv(f, GROUP), cdiv(h, GROUP), cdiv(f, GROUP)
    one = lambda *shape: torch.ones(*shape, device=dev)
    xs, wgs, hs, wds = one(m, hg), one(e, fb, hg), one(m, fg), one(e, hb, fg)
    hq8 = (hbuf * 16).to(e4)
    shape8 = shape + " e4m3"

    row = Row("moe_gate_up_fp8", shape8)
    rows.append(row)
    peer = lambda: glu(torch._scaled_grouped_mm(xq, wguq.transpose(-2, -1), one(m), one(e, 2 * f), offs=offs, out_dtype=torch.bfloat16))
    measure(row, b, lambda: ops.moe_gate_up_fp8(xq, xs, wgq, wuq, wgs, wgs, row_expert, hbuf, m, h, e, f), peer,
            "torch._scaled_grouped_mm + silu*mul", 2 * m * h * 2 * f, wguq.numel() + xq.numel() + 2 * hbuf.numel(), PEAK_FP8,
            compare=lambda: (hbuf, peer()))
    row = Row("moe_down_fp8", shape8)
    rows.append(row)
    peer = lambda: torch._scaled_grouped_mm(hq8, wdq.transpose(-2, -1), one(m), one(e, h), offs=offs, out_dtype=torch.bfloat16)
    measure(row, b, lambda: ops.moe_down_fp8(hq8, hs, wdq, wds, row_expert, y, m, h, e, f), peer,
            "torch._scaled_grouped_mm", 2 * m * f * h, wdq.numel() + hq8.numel() + 2 * y.numel(), PEAK_FP8,
            compare=lambda: (y, peer()))
    return rows


def cast_rows(dev: str, s: Sizes, b: Bench, ops) -> list[Row]:
    g = torch.Generator(device=dev).manual_seed(7)
    n = s.cast_n
    x = (torch.randn(n, generator=g, device=dev) * 30).to(torch.bfloat16)
    y, yp = torch.empty(n, dtype=torch.float8_e4m3fn, device=dev), torch.empty(n, dtype=torch.float8_e4m3fn, device=dev)
    row = Row("cast_bf16_to_e4m3", f"N={n}")
    measure(row, b, lambda: ops.cast_bf16_to_e4m3(x, y, n), lambda: yp.copy_(x), "Tensor.copy_ (to float8_e4m3fn)", 0, 3 * n,
            compare=lambda: (y.float(), yp.float()))
    rows = [row]
    t, k = s.quant_t, s.hidden
    gq = cdiv(k, GROUP)
    xa = (torch.randn(t, k, generator=g, device=dev) * 3).to(torch.bfloat16)
    q, sc = torch.empty(t, k, dtype=torch.float8_e4m3fn, device=dev), torch.empty(t, gq, device=dev)

    def peer():  # DeepGEMM's per-token 1x128 quantisation in plain torch ops
        xg = xa.view(t, gq, GROUP).float()
        s_ = xg.abs().amax(-1).clamp_min(1e-4) / 448
        return (xg / s_[..., None]).clamp(-448, 448).to(torch.float8_e4m3fn).view(t, k), s_

    row = Row("quant_act_e4m3", f"T={t} K={k}")
    measure(row, b, lambda: ops.quant_act_e4m3(xa, q, sc, t, k), peer, "torch ops (amax, div, cast)", 0, 3 * t * k + 4 * t * gq,
            compare=lambda: (q.float(), peer()[0].float()))
    rows.append(row)
    return rows


def fmt(v: float | None, digits: int = 3) -> str:
    return "—" if v is None else f"{v:.{digits}f}"


def table(rows: list[Row], title: str) -> str:
    lines = [title, "", "| op | shape | ours ms | peer | peer ms | peer/ours | ours % of floor | floor ms (limit) | diff vs peer | note |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ratio = f"{r.peer_ms / r.ours_ms:.2f}x" if r.peer_ms and r.ours_ms else "—"
        frac = f"{100 * r.floor_ms / r.ours_ms:.1f}%" if r.ours_ms and r.floor_ms is not None else "—"
        diff = "—" if r.diff is None else f"{r.diff:.1e}" + (" (!)" if not r.diff <= AGREE else "")
        note = "; ".join(x for x in (r.error and f"ERROR {r.error}", r.note) if x)
        lines.append(f"| {r.name} | {r.shape} | {fmt(r.ours_ms)} | {r.peer} | {fmt(r.peer_ms)} | {ratio} | {frac} | {fmt(r.floor_ms, 4)} ({r.limit}) | {diff} | {note} |")
    return "\n".join(lines) + "\n"


def run(dev: str, dry: bool, deadline: float, log) -> list[Row]:
    """Every group of rows, in order, while time is left; a group that would start past the
    deadline is listed as skipped rather than left out."""
    from torch.nn.attention.flex_attention import flex_attention

    s = DRY if dry else H200
    b = Bench(dev, warmup=1 if dry else 3, reps=2 if dry else 10)
    ops = torch.ops.mimo_kc
    flex = flex_attention if dev == "cpu" else torch.compile(flex_attention, dynamic=False)
    # Attention last: compiling flex_attention takes the longest, and should not starve the rest.
    groups = [("casts", lambda: cast_rows(dev, s, b, ops)), ("grouped GEMMs", lambda: grouped_rows(dev, s, b, ops)),
              ("attention", lambda: attention_rows(dev, s, b, ops, flex))]
    rows: list[Row] = []
    for name, fn in groups:
        if time.time() > deadline:
            rows.append(Row(name, "—", note="skipped: the peers phase ran out of its time budget"))
            log(f"peers: {name} skipped (over budget)")
            continue
        t0 = time.time()
        try:
            got = fn()
        except Exception as e:  # a setup failure (allocation, mask build): the group's row says why
            got = [Row(name, "—", error=f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}")]
        rows += got
        log(f"peers: {name} done in {time.time() - t0:.1f} s")
        if dev == "cuda":
            torch.cuda.empty_cache()
    return rows


def bad(rows: list[Row]) -> list[str]:
    """Rows where our op failed or disagrees with its peer."""
    return [r.name for r in rows if r.error or (r.diff is not None and not r.diff <= AGREE)]

