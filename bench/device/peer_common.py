"""What every peers row needs (peers.py, peers_gemm.py): the shapes of one table, the row, the
timing (CUDA events on the GPU, interleaved rounds after warm-ups), the roofline floor and
DeepGEMM's diff between our output and the peer's."""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Callable

import torch

# The H200 limits the floors are taken against: dense BF16 at the ~790 TFLOP/s measured on
# this workplace's H200s (/work/.library/device/KINDS.md; FP8 counted at twice that) and HBM3e at
# the datasheet's 4.8 TB/s. The GEMM table (peers_gemm.py) uses the published peaks instead.
PEAK_BF16 = 790e12
PEAK_FP8 = 2 * PEAK_BF16
HBM_BW = 4.8e12
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
    gemm_mnk: tuple[int, int, int]  # o_proj at prefill: T tokens x hidden, K = 64 heads x 128
    moe_decode_t: int  # tokens of one MoE decode step
    topk: int


H200 = Sizes(prefill_t=8192, swa_heads=(64, 8), global_heads=(64, 4), decode_b=16, decode_ctx=16384, decode_p=16, experts=256, rows_per_expert=128, hidden=4096,
             width=2048, cast_n=1 << 28, quant_t=32768, gemm_mnk=(4096, 4096, 8192), moe_decode_t=16, topk=8)
DRY = Sizes(prefill_t=160, swa_heads=(4, 2), global_heads=(2, 1), decode_b=2, decode_ctx=256, decode_p=2, experts=4, rows_per_expert=128, hidden=256,
            width=128, cast_n=4096, quant_t=8, gemm_mnk=(64, 64, 128), moe_decode_t=4, topk=2)


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
    # What one call does, for the GEMM table's TFLOP/s and fractions of the published peaks.
    flops: float = 0.0
    nbytes: float = 0.0
    fp8: bool = False
    gemm: bool = False


class Bench:
    """Times callables on one device: CUDA events on a GPU, the host clock on the CPU dry run."""

    def __init__(self, dev: str, warmup: int, reps: int):
        self.dev, self.warmup, self.reps = dev, warmup, reps

    def once(self, fn: Callable[[], object]) -> float:
        if self.dev != "cuda":
            t0 = time.perf_counter()
            fn()
            return (time.perf_counter() - t0) * 1e3
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        return a.elapsed_time(b)

    def warm(self, fn: Callable[[], object]) -> None:
        for _ in range(self.warmup):
            fn()
        if self.dev == "cuda":
            torch.cuda.synchronize()  # a launch error surfaces here, not in the other's timing

    def pair(self, ours: Callable[[], object], peer: Callable[[], object] | None) -> tuple[float, float | None]:
        """Medians of ours and the peer (already warm), in alternating rounds: clock and
        thermal drift over the rounds falls on both alike."""
        mine, theirs = [], []
        for _ in range(self.reps):
            mine.append(self.once(ours))
            if peer is not None:
                theirs.append(self.once(peer))
        return statistics.median(mine), statistics.median(theirs) if theirs else None


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


def first_line(e: Exception, n: int) -> str:
    return f"{type(e).__name__}: {str(e).splitlines()[0][:n] if str(e) else ''}"


def measure(row: Row, b: Bench, ours, peer, peer_name: str, flops: float, nbytes: float, peak: float = PEAK_BF16, compare=None):
    """Fills a row: ours must run (else the row is an error); a peer that cannot is 'n/a'."""
    row.floor_ms, row.limit = floor_ms(flops, nbytes, peak)
    row.peer, row.flops, row.nbytes, row.fp8 = peer_name, flops, nbytes, peak == PEAK_FP8
    try:
        b.warm(ours)
    except Exception as e:  # our op failing at the model's shape is what this row reports
        row.error = f"ours failed: {first_line(e, 160)}"
        return
    try:
        b.warm(peer)
    except Exception as e:
        row.note = f"peer n/a: {first_line(e, 120)}"
        peer = None
    row.ours_ms, row.peer_ms = b.pair(ours, peer)
    if compare is not None and peer is not None:
        row.diff = diff(*compare())
