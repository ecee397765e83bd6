"""The peers table: our ops against PyTorch's own kernels in the same run, at MiMo-V2-Flash's
shapes (model/presets.ts: hidden 4096; SWA 64 query / 8 KV heads, window 128 with a sink;
global 64 / 4; 256 experts, top 8, width 2048; head dims 192 / 128), as ratios and as a
fraction of the H200's limits (peers_gemm.py adds the GEMMs' own table: TFLOP/s against the
published peaks). Each row: ours ms, the peer's ms, peer / ours (> 1: ours is
faster), our time's fraction of the roofline floor max(FLOPs / peak, bytes / bandwidth), and
how far our output is from the peer's (DeepGEMM's diff; the peers compute the same function).

Peer kernels: flex_attention (compiled on CUDA) with the same mask and the sink applied
through its log-sum-exp; for the GEMMs (peers_gemm.py) torch.matmul, torch._grouped_mm and
torch._scaled_grouped_mm; torch's own casts. A peer that cannot run here is 'n/a' with its reason; our op failing is an error.
"""
from __future__ import annotations

import time

import torch

from common import GROUP, cdiv
from peer_common import AGREE, DRY, H200, HBM_BW, PEAK_BF16, PEAK_FP8, Bench, Row, Sizes, first_line, measure  # noqa: F401 (check.py reads the peaks here)
import peers_gemm

DQK, DV, WINDOW = 192, 128, 128


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
    groups = [("casts", lambda: cast_rows(dev, s, b, ops)), ("dense GEMM", lambda: peers_gemm.dense_rows(dev, s, b, ops)),
              ("grouped GEMMs", lambda: peers_gemm.grouped_rows(dev, s, b, ops)),
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
            got = [Row(name, "—", error=first_line(e, 200))]
        rows += got
        log(f"peers: {name} done in {time.time() - t0:.1f} s")
        if dev == "cuda":
            torch.cuda.empty_cache()
    return rows


def bad(rows: list[Row]) -> list[str]:
    """Rows where our op failed or disagrees with its peer."""
    return [r.name for r in rows if r.error or (r.diff is not None and not r.diff <= AGREE)]

