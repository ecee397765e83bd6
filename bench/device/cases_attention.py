"""Correctness cases: prefill and decode attention, RoPE and the KV-cache writes (ops/attention).

The reference is test/harness/attention-reference.ts's definition in float64 torch: scores
q.k * SCALE, the sink appended as one raw (unscaled) logit column per head, softmax over the
row, the sink column dropped, then p.V; key j visible from position i iff i - W < j <= i; GQA
query head h reads KV head h // (HQ / HKV). Inputs as there: q in [-3, 3], k in [-2, 2],
v in [-1, 1] (peaked rows)."""
from __future__ import annotations

import math

import torch

from common import BF16_ULP, Ctx, bits_equal, case, close

DQK, DV, WINDOW, V_SCALE = 192, 128, 128, 0.707
SCALE = DQK**-0.5
# bf16 output of f32 online softmax (test/attention.test.ts's tolerance).
ATT_RTOL, ATT_ATOL = BF16_ULP, 1e-3
KV_SENTINEL = 0x7F81  # a NaN pattern no kernel produces: cache rows start as it


def attend(q, k, v, pos0: int, window: int | None, sink: torch.Tensor | None) -> torch.Tensor:
    """q[L, HQ, DQK] at positions pos0.., keys k[S, HKV, DQK] / v at 0..S-1 -> out[L, HQ, DV] (float64)."""
    hq, hkv = q.shape[1], k.shape[1]
    kk = k.double().repeat_interleave(hq // hkv, 1).transpose(0, 1)  # [HQ, S, D]
    vv = v.double().repeat_interleave(hq // hkv, 1).transpose(0, 1)
    s = q.double().transpose(0, 1) @ kk.transpose(1, 2) * SCALE  # [HQ, L, S]
    pos = torch.arange(q.shape[0])[:, None] + pos0
    j = torch.arange(k.shape[0])[None, :]
    hide = j > pos
    if window is not None:
        hide |= j <= pos - window
    s = s.masked_fill(hide, -math.inf)
    if sink is not None:
        s = torch.cat([s, sink.double()[:, None, None].expand(hq, q.shape[0], 1)], -1)
    p = torch.softmax(s, -1)[..., : k.shape[0]]
    return (p @ vv).transpose(0, 1)


def batch(ctx: Ctx, hq: int, hkv: int, lens):
    """A varlen batch: lens of (query, key) lengths; a sequence's queries are its last positions."""
    t, s = sum(q for q, _ in lens), sum(k for _, k in lens)
    q = ctx.uniform(t, hq, DQK, lo=-3, hi=3, dtype=torch.bfloat16)
    k = ctx.uniform(s, hkv, DQK, lo=-2, hi=2, dtype=torch.bfloat16)
    v = ctx.uniform(s, hkv, DV, dtype=torch.bfloat16)
    cu = lambda xs: torch.tensor([0] + torch.tensor(xs).cumsum(0).tolist(), dtype=torch.int32)
    return q, k, v, cu([a for a, _ in lens]), cu([b for _, b in lens])


def varlen_ref(q, k, v, cu_q, cu_k, window, sink):
    out = torch.empty(q.shape[0], q.shape[1], DV, dtype=torch.float64)
    for b in range(len(cu_q) - 1):
        q0, q1, k0, k1 = int(cu_q[b]), int(cu_q[b + 1]), int(cu_k[b]), int(cu_k[b + 1])
        out[q0:q1] = attend(q[q0:q1], k[k0:k1], v[k0:k1], (k1 - k0) - (q1 - q0), window, sink)
    return out


@case("swa_prefill", "global_prefill")
def prefill(ctx: Ctx):
    # The second sequence's queries sit at positions 100..199: past the 128-key window.
    for kernel, hq, hkv, window in (("swa_prefill", 4, 2, WINDOW), ("global_prefill", 4, 1, None)):
        lens = [(3, 5), (100, 200), (1, 1)]
        q, k, v, cu_q, cu_k = batch(ctx, hq, hkv, lens)
        t, s = q.shape[0], k.shape[0]
        out = ctx.poisoned(t, hq, DV, dtype=torch.bfloat16)
        if window is None:
            sink = None
            ctx.ops.global_prefill(*ctx.to(q, k, v, cu_q, cu_k), out, t, s, hq, hkv, len(lens))
        else:
            sink = ctx.uniform(hq, lo=-2, hi=2)
            ctx.ops.swa_prefill(*ctx.to(q, k, v, sink, cu_q, cu_k), out, t, s, hq, hkv, len(lens))
        close(kernel, out, varlen_ref(q, k, v, cu_q, cu_k, window, sink), ATT_RTOL, ATT_ATOL)


def cache(src: torch.Tensor, cu: torch.Tensor, lens, slots: int) -> torch.Tensor:
    """[B, slots, HKV, D]: key position p of sequence b in slot p % slots for the last `slots`
    positions; every other slot NaN, so a read of one poisons the output."""
    out = torch.full((len(lens), slots, *src.shape[1:]), math.nan, dtype=src.dtype)
    for b, n in enumerate(lens):
        for p in range(max(0, n - slots), n):
            out[b, p % slots] = src[int(cu[b]) + p]
    return out


@case("global_decode_partial", "decode_merge", "swa_decode")
def decode(ctx: Ctx):
    lens, nq, hq, hkv = [5, 300], 2, 4, 2
    q_all, k, v, cu, _ = batch(ctx, hq, hkv, [(n, n) for n in lens])
    b = len(lens)
    q = torch.stack([q_all[int(cu[i]) + n - nq: int(cu[i]) + n] for i, n in enumerate(lens)])  # [B, NQ, HQ, DQK]
    seq_lens = torch.tensor(lens, dtype=torch.int32)

    def ref(window, sink):
        return torch.stack([attend(q[i], k[int(cu[i]):int(cu[i]) + n], v[int(cu[i]):int(cu[i]) + n], n - nq, window, sink) for i, n in enumerate(lens)])

    smax, p = 320, 3
    acc, mx, sm = (ctx.poisoned(b, nq, hq, p, DV, dtype=torch.float32), ctx.poisoned(b, nq, hq, p, dtype=torch.float32), ctx.poisoned(b, nq, hq, p, dtype=torch.float32))
    ctx.ops.global_decode_partial(*ctx.to(q, cache(k, cu, lens, smax), cache(v, cu, lens, smax), seq_lens), acc, mx, sm, b, nq, hq, hkv, smax, p)
    out = ctx.poisoned(b, nq, hq, DV, dtype=torch.bfloat16)
    ctx.ops.decode_merge(acc, mx, sm, out, b, nq, hq, p)
    close("global_decode_partial + decode_merge", out, ref(None, None), ATT_RTOL, ATT_ATOL)

    r = WINDOW - 1 + nq + 3  # precondition R >= WINDOW - 1 + NQ, with slack
    sink = ctx.uniform(hq, lo=-2, hi=2)
    out = ctx.poisoned(b, nq, hq, DV, dtype=torch.bfloat16)
    ctx.ops.swa_decode(*ctx.to(q, cache(k, cu, lens, r), cache(v, cu, lens, r), sink, seq_lens), out, b, nq, hq, hkv, r)
    close("swa_decode", out, ref(WINDOW, sink), ATT_RTOL, ATT_ATOL)


@case("rope")
def rope(ctx: Ctx):
    t, hq, hkv, rot, maxpos, base = 5, 3, 2, 64, 64, 10000.0
    half = rot // 2
    angle = torch.arange(maxpos, dtype=torch.float64)[:, None] * base ** (-2 * torch.arange(half, dtype=torch.float64) / rot)
    table = torch.cat([angle.cos(), angle.sin()], 1).float()  # model/rope.ts: [cos | sin] per row
    q, k = ctx.randn(t, hq, DQK, dtype=torch.bfloat16), ctx.randn(t, hkv, DQK, dtype=torch.bfloat16)
    positions = torch.tensor([0, 63, 17, 17, 5], dtype=torch.int32)
    qr, kr = ctx.poisoned(t, hq, DQK, dtype=torch.bfloat16), ctx.poisoned(t, hkv, DQK, dtype=torch.bfloat16)
    ctx.ops.rope(*ctx.to(q, k, positions, table), qr, kr, t, hq, hkv, DQK, maxpos, rot)
    for name, x, got in (("rope q_rot", q, qr), ("rope k_rot", k, kr)):
        x64 = x.double()
        c, s = table[positions.long(), :half].double()[:, None], table[positions.long(), half:].double()[:, None]
        want = x64.clone()
        want[..., :half] = x64[..., :half] * c - x64[..., half:rot] * s
        want[..., half:rot] = x64[..., half:rot] * c + x64[..., :half] * s
        close(name, got, want.to(torch.bfloat16).double(), BF16_ULP, 1e-5)
        bits_equal(f"{name} (dims >= ROT copied)", got.cpu()[..., rot:], x[..., rot:])


@case("kv_write_linear", "kv_write_ring")
def kv_write(ctx: Ctx):
    hkv, b = 2, 2
    # Tokens a write skips: batch -1 and 2 (B = 2), position -1, and (linear) position 9 >= SMAX.
    batch_idx = torch.tensor([0, 0, 1, 1, -1, 2, 1, 0], dtype=torch.int32)
    positions = torch.tensor([0, 1, 5, 9, 3, 2, -1, 6], dtype=torch.int32)
    t = batch_idx.numel()
    k_rot, v = ctx.randn(t, hkv, DQK, dtype=torch.bfloat16), ctx.randn(t, hkv, DV, dtype=torch.bfloat16)
    for kernel, slots, ring in (("kv_write_linear", 8, False), ("kv_write_ring", 7, True)):
        kc = torch.full((b, slots, hkv, DQK), KV_SENTINEL, dtype=torch.int16).view(torch.bfloat16)
        vc = torch.full((b, slots, hkv, DV), KV_SENTINEL, dtype=torch.int16).view(torch.bfloat16)
        want_k, want_v = kc.double().clone(), vc.double().clone()
        want_vs = (V_SCALE * v.double()).float().to(torch.bfloat16).double()
        written = torch.zeros(t, dtype=torch.bool)
        for i in range(t):
            bi, p = int(batch_idx[i]), int(positions[i])
            if bi < 0 or bi >= b or p < 0 or (not ring and p >= slots):
                continue
            written[i] = True
            want_k[bi, p % slots], want_v[bi, p % slots] = k_rot[i].double(), want_vs[i]
        kd, vd = ctx.to(kc, vc)
        vs = ctx.poisoned(t, hkv, DV, dtype=torch.bfloat16)
        getattr(ctx.ops, kernel)(*ctx.to(k_rot, v, batch_idx, positions), kd, vd, vs, t, hkv, DQK, DV, b, slots)
        untouched = torch.isnan(want_k)  # rows no token writes keep the sentinel bits
        bits_equal(f"{kernel} k_cache (rows not written)", kd.cpu()[untouched], kc[untouched])
        close(f"{kernel} k_cache", kd, want_k, 0.0, 0.0, ~untouched)
        close(f"{kernel} v_cache", vd, want_v, BF16_ULP, 0.0, ~torch.isnan(want_v))
        close(f"{kernel} v_scaled", vs, want_vs, BF16_ULP, 0.0, written[:, None, None].expand_as(want_vs))
