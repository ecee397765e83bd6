/**
 * The static time estimate of one launch: the slowest of what the kernel's work needs
 * from each unit, every unit at its peak, none overlapped worse than perfectly:
 *  - math: executed FLOPs (the useful ones plus a tiled GEMM's padding rows: a decode
 *    step's few rows per expert still run whole BM-row tiles) at the peak of the
 *    instructions the SASS uses (QGMMA/QMMA: the FP8 rate; HMMA/HGMMA: the 16-bit rate,
 *    which an FP8 GEMM gets when ptxas emulates its MMA; no tensor instruction: the FP32
 *    CUDA cores);
 *  - HBM: every binding read or written once in full (expert weights only for the experts
 *    that get rows), at HBM bandwidth;
 *  - L2: tiled GEMMs re-read A's real rows once per N tile and the weights once per M tile
 *    (of their expert), at the assumed L2 bandwidth;
 *  - issue: instructions issued, taken as the hot loop's SASS instructions per MMA (or per
 *    FFMA; sass.ts: the backward-branch range with the most of them; without one, the whole
 *    kernel's static ratio) times the MMAs the executed FLOPs need, at one warp instruction
 *    per scheduler per clock. Loops nested in the hot loop count once: optimistic for them.
 * A grid of fewer blocks than SMs uses only that many SMs. Latency, occupancy and
 * bank conflicts are not modelled: this is a bound-based estimate, not a measurement.
 * The roofline is max(FLOPs at the ideal tensor peak, compulsory bytes at HBM bandwidth);
 * the fraction is roofline time / estimated time.
 */
import type { ManifestKernel } from '../codegen/manifest.js';
import { evalSize } from '../ir/size.js';
import type { Machine } from './machine.js';
import { flopsPerTensorOp, type SassMix } from './sass.js';
import { rowsOf, type Case, type Family } from './workload.js';

export type Bound = 'tensor' | 'fp32' | 'HBM' | 'L2' | 'issue';

export interface Estimate {
  readonly bytes: number;
  readonly flops: number | null;
  readonly l2Bytes: number | null;
  readonly blocks: number;
  /** Seconds per unit that has a model for this kernel. */
  readonly times: Partial<Record<Bound, number>>;
  readonly seconds: number;
  readonly rooflineSeconds: number;
  /** null without a FLOPs model (the kernel is reported by its bytes alone). */
  readonly fraction: number | null;
  readonly bound: Bound;
}

const FP8_TENSOR = new Set(['QGMMA', 'QMMA']);

export function estimate(mk: ManifestKernel, c: Case, fam: Family | undefined, m: Machine, mix: SassMix | undefined): Estimate {
  const env = { ...mk.consts, ...c.dims };
  const bindingBytes = (name: string): number => {
    const b = mk.bindings.find((x) => x.name === name);
    if (!b) throw new Error(`kernel ${mk.name}: the report's table names binding '${name}', which the kernel does not have (have: ${mk.bindings.map((x) => x.name).join(', ')})`);
    return evalSize(b.bytesExpr, env) * (fam?.experts?.includes(name) ? c.expertsTouched ?? 1 : 1);
  };
  const bytes = mk.bindings.reduce((s, b) => s + bindingBytes(b.name) * (b.access === 'readwrite' ? 2 : 1), 0);
  const blocks = mk.gridExpr.reduce((p, g) => p * evalSize(g, env), 1);
  const util = Math.min(1, blocks / m.sms);
  const flops = fam ? fam.flops(c.dims, c) : null;
  const l2Bytes = fam?.tiles ? tileTraffic(mk, c, fam.tiles, bindingBytes, bytes) : null;
  // The MMAs also run on a tile's padding rows: what the units spend is the executed work.
  const executed = flops === null ? null : flops * (fam?.tiles ? paddedShare(mk, c) : 1);
  const ideal = fam ? (fam.math === 'fp32' ? m.fp32Peak : m.tensorPeak[fam.math]) : 0;
  const times: Partial<Record<Bound, number>> = { HBM: bytes / m.hbm };
  if (l2Bytes !== null) times.L2 = l2Bytes / m.l2;
  if (flops !== null) {
    const tensorOps = mix?.tensor.reduce((s, t) => s + t.count, 0) ?? 0;
    const work = executed!;
    if (!mix) times.tensor = work / ideal;
    else if (tensorOps) times.tensor = work / (mix.tensor.some((t) => FP8_TENSOR.has(t.opcode.split('.')[0])) ? m.tensorPeak.fp8 : m.tensorPeak.bf16);
    else times.fp32 = work / m.fp32Peak;
    const perOp = tensorOps ? flopsPerTensorOp(mix!) : mix?.ffma ? 64 : 0;
    const ops = tensorOps || mix?.ffma || 0;
    // The hot loop's instructions per op when it has the kernel's kind of op, else the whole kernel's.
    const hot = mix?.hotLoop?.kind === (tensorOps ? 'tensor' : 'ffma') ? mix.hotLoop : undefined;
    const perIssue = hot ? hot.instructions / hot.ops : mix ? mix.total / ops : 0;
    if (mix && perOp) times.issue = ((work / perOp) * perIssue) / (m.sms * m.issuePerSm * m.clock);
  }
  for (const k of Object.keys(times) as Bound[]) times[k]! /= util;
  const bound = (Object.keys(times) as Bound[]).reduce((a, b) => (times[b]! > times[a]! ? b : a));
  const seconds = times[bound]!;
  const rooflineSeconds = Math.max(flops !== null ? flops / ideal : 0, bytes / m.hbm);
  return { bytes, flops, l2Bytes, blocks, times, seconds, rooflineSeconds, fraction: flops !== null ? rooflineSeconds / seconds : null, bound };
}

/** Executed rows / real rows: each expert's (or the GEMM's) rows rounded up to whole BM tiles. */
function paddedShare(mk: ManifestKernel, c: Case): number {
  const BM = (mk.tunables as Record<string, number | undefined>).BM;
  const rows = rowsOf(c.dims, c);
  if (!BM || !rows) return 1;
  const groups = c.dims.E ? c.dims.E * (c.expertsTouched ?? 1) : 1;
  return (groups * Math.ceil(rows / groups / BM) * BM) / rows;
}

/** A's real rows once per N tile, W once per M tile of its expert (or of the whole GEMM), everything else once. */
function tileTraffic(mk: ManifestKernel, c: Case, tiles: NonNullable<Family['tiles']>, bytesOf: (n: string) => number, total: number): number | null {
  const { BM, BN } = mk.tunables as Record<string, number | undefined>;
  if (!BM || !BN) return null;
  const a = tiles.a.reduce((s, n) => s + bytesOf(n), 0);
  const w = tiles.w.reduce((s, n) => s + bytesOf(n), 0);
  const rows = rowsOf(c.dims, c);
  const groups = c.dims.E ? c.dims.E * (c.expertsTouched ?? 1) : 1;
  // Only A's real rows are re-read: a tile with no rows of its expert exits.
  const aRead = (a * rows) / (c.dims.M ?? c.dims.E * c.dims.C);
  return total - a - w + aRead * Math.ceil(tiles.n(c.dims) / BN) + w * Math.ceil(rows / groups / BM);
}
