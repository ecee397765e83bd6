/**
 * Float64 / exact host references for the MoE kernels (ops/moe/*): routing layouts, the
 * DeepGEMM FP8 quantisation recipe, grouped GEMMs and a whole MoE layer. Written from the
 * definitions (../shared/design.md, the fact sheet's SwiGLU experts), not from the kernels.
 * At the end: the inputs and grouped-GEMM launch arguments that test/moe.test.ts and
 * examples/run-all-ops.mts share.
 */
import { E4M3, decode, encode } from '../../compiler/ir/numerics.js';
import type { HostArray, LaunchArgs } from '../../compiler/launch/args.js';
import { FP8_BLOCK, MOE_ALIGN, MOE_CHUNK, cdiv, moeDims } from '../../ops/moe/shapes.js';
import { prng, uniform } from './prng.js';
import { silu } from './reference.js';
import { bf16, bf16Bits } from './bf16.js';

export interface RoutingRef {
  counts: Int32Array;
  /** Contiguous layout. */
  offsets: Int32Array;
  rowIndex: Int32Array;
  rowExpert: Int32Array;
  slotRow: Int32Array;
  /** Masked layout (capacity C). */
  rowIndexM: Int32Array;
  slotRowM: Int32Array;
  maskedCount: Int32Array;
}

/**
 * The contiguous layout's expert block on a test backend: CUDA's ALIGN for the emulator,
 * WebGPU's for WebGPU and the interpreter (which takes WebGPU's tunables, ir/tunables.ts).
 */
export const alignOf = (backend: 'webgpu' | 'cuda-emu' | 'interp' | 'interp-cuda'): number => (backend === 'cuda-emu' || backend === 'interp-cuda' ? MOE_ALIGN.cuda : MOE_ALIGN.webgpu);

/** Rows of each expert in (token, slot) order, blocks of `align` rows; ids outside [0, E) are not routed. */
export function routeRef(ids: ArrayLike<number>, T: number, TOPK: number, E: number, C: number, align: number): RoutingRef {
  const { MP } = moeDims(T, TOPK, E, align);
  const counts = new Int32Array(E);
  const rank = new Int32Array(T * TOPK).fill(-1);
  for (let s = 0; s < T * TOPK; s++) {
    const e = ids[s];
    if (e >= 0 && e < E) rank[s] = counts[e]++;
  }
  const offsets = new Int32Array(E);
  for (let e = 1; e < E; e++) offsets[e] = offsets[e - 1] + cdiv(counts[e - 1], align) * align;
  const rowIndex = new Int32Array(MP).fill(-1);
  const rowExpert = new Int32Array(MP).fill(-1);
  const slotRow = new Int32Array(T * TOPK).fill(-1);
  const rowIndexM = new Int32Array(E * C).fill(-1);
  const slotRowM = new Int32Array(T * TOPK).fill(-1);
  for (let s = 0; s < T * TOPK; s++) {
    if (rank[s] < 0) continue;
    const e = ids[s];
    const row = offsets[e] + rank[s];
    rowIndex[row] = s;
    rowExpert[row] = e;
    slotRow[s] = row;
    if (rank[s] < C) {
      rowIndexM[e * C + rank[s]] = s;
      slotRowM[s] = e * C + rank[s];
    }
  }
  const maskedCount = Int32Array.from(counts, (n) => Math.min(n, C));
  return { counts, offsets, rowIndex, rowExpert, slotRow, rowIndexM, slotRowM, maskedCount };
}

/**
 * moe_count / moe_scan's per-chunk view of the routing: chunkCounts[c, e] = slots of chunk c
 * (MOE_CHUNK consecutive slots) routed to e; chunkOffsets[c, e] = those of earlier chunks.
 */
export function chunkRef(ids: ArrayLike<number>, T: number, TOPK: number, E: number): { chunkCounts: Int32Array; chunkOffsets: Int32Array } {
  const NC = cdiv(T * TOPK, MOE_CHUNK);
  const chunkCounts = new Int32Array(NC * E);
  for (let s = 0; s < T * TOPK; s++) if (ids[s] >= 0 && ids[s] < E) chunkCounts[Math.floor(s / MOE_CHUNK) * E + ids[s]]++;
  const chunkOffsets = new Int32Array(NC * E);
  for (let c = 1; c < NC; c++) for (let e = 0; e < E; e++) chunkOffsets[c * E + e] = chunkOffsets[(c - 1) * E + e] + chunkCounts[(c - 1) * E + e];
  return { chunkCounts, chunkOffsets };
}

/** Rows of x[T, H] gathered by a row -> slot map (zeros where it is -1). */
export function gatherRef(x: ArrayLike<number>, rowIndex: ArrayLike<number>, TOPK: number, H: number): Float64Array {
  const out = new Float64Array(rowIndex.length * H);
  for (let r = 0; r < rowIndex.length; r++) {
    const s = rowIndex[r];
    if (s < 0) continue;
    const t = Math.floor(s / TOPK);
    for (let h = 0; h < H; h++) out[r * H + h] = x[t * H + h];
  }
  return out;
}

export interface Quantised {
  /** e4m3 bit patterns. */
  q: Uint8Array;
  /** f32 scales. */
  s: Float32Array;
  /** The values the kernels see: decode(q) * scale, per element (float64). */
  deq: Float64Array;
}

/** DeepGEMM's scale: amax / 448 with amax >= 1e-4, as an f32. */
const fp8Scale = (amax: number): number => Math.fround(Math.max(amax, 1e-4) / E4M3.max);

/** Activations [R, K] in 1x128 groups: s[R, cdiv(K, 128)]. */
export function quantRows(x: ArrayLike<number>, R: number, K: number): Quantised {
  const G = cdiv(K, FP8_BLOCK);
  const q = new Uint8Array(R * K);
  const s = new Float32Array(R * G);
  const deq = new Float64Array(R * K);
  for (let r = 0; r < R; r++) {
    for (let g = 0; g < G; g++) {
      let amax = 0;
      for (let k = g * FP8_BLOCK; k < Math.min(K, (g + 1) * FP8_BLOCK); k++) amax = Math.max(amax, Math.abs(x[r * K + k]));
      const scale = fp8Scale(amax);
      s[r * G + g] = scale;
      for (let k = g * FP8_BLOCK; k < Math.min(K, (g + 1) * FP8_BLOCK); k++) {
        q[r * K + k] = encode(E4M3, Math.fround(x[r * K + k] / scale));
        deq[r * K + k] = decode(E4M3, q[r * K + k]) * scale;
      }
    }
  }
  return { q, s, deq };
}

/** Weights [E, N, K] in 128x128 blocks: s[E, cdiv(N, 128), cdiv(K, 128)]. */
export function quantBlocks(w: ArrayLike<number>, E: number, N: number, K: number): Quantised {
  const NB = cdiv(N, FP8_BLOCK);
  const KB = cdiv(K, FP8_BLOCK);
  const q = new Uint8Array(E * N * K);
  const s = new Float32Array(E * NB * KB);
  const deq = new Float64Array(E * N * K);
  for (let e = 0; e < E; e++) {
    for (let nb = 0; nb < NB; nb++) {
      for (let kb = 0; kb < KB; kb++) {
        const ns = [nb * FP8_BLOCK, Math.min(N, (nb + 1) * FP8_BLOCK)];
        const ks = [kb * FP8_BLOCK, Math.min(K, (kb + 1) * FP8_BLOCK)];
        let amax = 0;
        for (let n = ns[0]; n < ns[1]; n++) for (let k = ks[0]; k < ks[1]; k++) amax = Math.max(amax, Math.abs(w[(e * N + n) * K + k]));
        const scale = fp8Scale(amax);
        s[(e * NB + nb) * KB + kb] = scale;
        for (let n = ns[0]; n < ns[1]; n++) {
          for (let k = ks[0]; k < ks[1]; k++) {
            const i = (e * N + n) * K + k;
            q[i] = encode(E4M3, Math.fround(w[i] / scale));
            deq[i] = decode(E4M3, q[i]) * scale;
          }
        }
      }
    }
  }
  return { q, s, deq };
}

/** One row of x·W[e]ᵀ for W[E, N, K]. */
function rowTimesWt(x: ArrayLike<number>, xOff: number, w: ArrayLike<number>, e: number, N: number, K: number): Float64Array {
  const out = new Float64Array(N);
  for (let n = 0; n < N; n++) {
    let acc = 0;
    const wo = (e * N + n) * K;
    for (let k = 0; k < K; k++) acc += x[xOff + k] * w[wo + k];
    out[n] = acc;
  }
  return out;
}

/** h[r, :] = silu(x[r]·Wg[e]ᵀ) * (x[r]·Wu[e]ᵀ) for rows with expertOf(r) >= 0 (others zero). */
export function gluRef(x: ArrayLike<number>, wg: ArrayLike<number>, wu: ArrayLike<number>, expertOf: (r: number) => number, R: number, F: number, H: number): Float64Array {
  const out = new Float64Array(R * F);
  for (let r = 0; r < R; r++) {
    const e = expertOf(r);
    if (e < 0) continue;
    const g = rowTimesWt(x, r * H, wg, e, F, H);
    const u = rowTimesWt(x, r * H, wu, e, F, H);
    for (let f = 0; f < F; f++) out[r * F + f] = silu(g[f]) * u[f];
  }
  return out;
}

/** y[r, :] = h[r]·Wd[e]ᵀ for rows with expertOf(r) >= 0 (others zero). */
export function downRef(h: ArrayLike<number>, wd: ArrayLike<number>, expertOf: (r: number) => number, R: number, H: number, F: number): Float64Array {
  const out = new Float64Array(R * H);
  for (let r = 0; r < R; r++) {
    const e = expertOf(r);
    if (e >= 0) out.set(rowTimesWt(h, r * F, wd, e, H, F), r * H);
  }
  return out;
}

/** out[t] = Σ_j w[t, j] * y[slotRow[t, j]] over rows >= 0. */
export function combineRef(y: ArrayLike<number>, slotRow: ArrayLike<number>, w: ArrayLike<number>, T: number, TOPK: number, H: number): Float64Array {
  const out = new Float64Array(T * H);
  for (let t = 0; t < T; t++) {
    for (let j = 0; j < TOPK; j++) {
      const row = slotRow[t * TOPK + j];
      if (row < 0) continue;
      for (let h = 0; h < H; h++) out[t * H + h] += w[t * TOPK + j] * y[row * H + h];
    }
  }
  return out;
}

/**
 * A MoE layer in float64 straight from the definition: for each token t,
 * Σ_j w[t,j] * Wd[e]·(silu(Wg[e]·x_t) ⊙ (Wu[e]·x_t)), e = ids[t, j].
 */
export function moeLayerRef(
  x: ArrayLike<number>, ids: ArrayLike<number>, w: ArrayLike<number>, wg: ArrayLike<number>, wu: ArrayLike<number>, wd: ArrayLike<number>,
  T: number, TOPK: number, H: number, F: number,
): Float64Array {
  const out = new Float64Array(T * H);
  for (let t = 0; t < T; t++) {
    for (let j = 0; j < TOPK; j++) {
      const e = ids[t * TOPK + j];
      const h = gluRef(Array.prototype.slice.call(x, t * H, (t + 1) * H) as number[], wg, wu, () => e, 1, F, H);
      const y = downRef(h, wd, () => e, 1, H, F);
      for (let d = 0; d < H; d++) out[t * H + d] += w[t * TOPK + j] * y[d];
    }
  }
  return out;
}

/** DeepGEMM's FP8 check: 1 - 2Σxy / Σ(x² + y²) (0 when equal; < 1e-3 passes). */
export function fp8Diff(x: ArrayLike<number>, y: ArrayLike<number>): number {
  let xy = 0;
  let sq = 0;
  for (let i = 0; i < x.length; i++) {
    xy += x[i] * y[i];
    sq += x[i] * x[i] + y[i] * y[i];
  }
  return sq === 0 ? 0 : 1 - (2 * xy) / sq;
}

/**
 * The FP8 MoE layer as the kernels see it, in float64: x quantised per token (1x128), the
 * dequantised weights, and each expert's h = silu(gate)·up rounded by `roundH` (bf16, as
 * stored) then re-quantised per 1x128 group before the down projection.
 */
export function moeLayerFp8Ref(
  x: ArrayLike<number>, ids: ArrayLike<number>, w: ArrayLike<number>, wgDeq: ArrayLike<number>, wuDeq: ArrayLike<number>, wdDeq: ArrayLike<number>,
  T: number, TOPK: number, H: number, F: number, roundH: (h: Float64Array) => ArrayLike<number>,
): Float64Array {
  const xd = quantRows(x, T, H).deq;
  const out = new Float64Array(T * H);
  for (let t = 0; t < T; t++) {
    for (let j = 0; j < TOPK; j++) {
      const e = ids[t * TOPK + j];
      const h = gluRef(xd.subarray(t * H, (t + 1) * H), wgDeq, wuDeq, () => e, 1, F, H);
      const y = downRef(quantRows(roundH(h), 1, F).deq, wdDeq, () => e, 1, H, F);
      for (let d = 0; d < H; d++) out[t * H + d] += w[t * TOPK + j] * y[d];
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Inputs and launch arguments

export interface MoeCase {
  readonly T: number;
  readonly TOPK: number;
  readonly E: number;
  readonly H: number;
  readonly F: number;
  /** random: TOPK distinct experts per token; one: every slot on expert 1; skewed: half the slots on expert 0. */
  readonly mode: 'random' | 'one' | 'skewed';
  readonly seed: number;
}

/** Router output stand-in: ids[T, TOPK] and normalised weights[T, TOPK]. */
export function routing(c: MoeCase): { ids: Int32Array; w: Float32Array } {
  const r = prng(c.seed);
  const ids = new Int32Array(c.T * c.TOPK);
  const w = new Float32Array(c.T * c.TOPK);
  for (let t = 0; t < c.T; t++) {
    const perm = Array.from({ length: c.E }, (_, i) => i);
    for (let i = c.E - 1; i > 0; i--) {
      const j = Math.floor(r() * (i + 1));
      [perm[i], perm[j]] = [perm[j], perm[i]];
    }
    let sum = 0;
    for (let j = 0; j < c.TOPK; j++) {
      const e = c.mode === 'one' ? 1 : c.mode === 'skewed' && j === 0 ? 0 : perm[j];
      ids[t * c.TOPK + j] = c.mode === 'skewed' && j > 0 && e === 0 ? perm[c.TOPK] : e;
      w[t * c.TOPK + j] = 0.1 + r();
      sum += w[t * c.TOPK + j];
    }
    for (let j = 0; j < c.TOPK; j++) w[t * c.TOPK + j] = Math.fround(w[t * c.TOPK + j] / sum);
  }
  return { ids, w };
}

/** Masked-layout capacity that drops nothing: the largest expert count. */
export function capacity(ids: Int32Array, T: number, TOPK: number, E: number): number {
  return Math.max(1, ...routeRef(ids, T, TOPK, E, 1, 1).counts);
}


/** Expert weights [E, N, K] ~ U(-1, 1)/sqrt(K) so outputs stay O(1); bf16-representable. */
export const expertWeights = (seed: number, E: number, N: number, K: number): Float32Array => bf16(uniform(seed, E * N * K, -1 / Math.sqrt(K), 1 / Math.sqrt(K)));

/** Rows of a [R, N] array whose mask is set, flattened (the outputs the kernels own). */
export function pickRows(a: ArrayLike<number>, N: number, keep: (r: number) => boolean): number[] {
  const out: number[] = [];
  for (let r = 0; r * N < a.length; r++) if (keep(r)) for (let n = 0; n < N; n++) out.push(a[r * N + n]);
  return out;
}

export interface Weights { wg: Float32Array; wu: Float32Array; wd: Float32Array }
export interface QuantWeights { wg: Quantised; wu: Quantised; wd: Quantised }
const quantCache = new WeakMap<Weights, QuantWeights>();
/** The weights' FP8 block quantisation (computed once per weight set). */
export function quantWeights(wts: Weights, E: number, H: number, F: number): QuantWeights {
  let q = quantCache.get(wts);
  if (!q) quantCache.set(wts, (q = { wg: quantBlocks(wts.wg, E, F, H), wu: quantBlocks(wts.wu, E, F, H), wd: quantBlocks(wts.wd, E, H, F) }));
  return q;
}

/**
 * The rows a grouped GEMM runs on: the contiguous layout (rows = MP, tag = rowExpert[MP])
 * or the masked one (rows = E*C, tag = maskedCount[E]).
 */
export interface GemmRows { readonly layout: 'contig' | 'masked'; readonly rows: number; readonly tag: Int32Array; readonly C: number }
interface FfnDims { readonly E: number; readonly H: number; readonly F: number }
type Launch = [name: string, args: LaunchArgs];

/** A layout's kernel-name suffix, row-count scalar and row tag tensor. */
function layoutParts(L: GemmRows): { sfx: string; shape: Record<string, number>; tag: Record<string, HostArray> } {
  return L.layout === 'contig'
    ? { sfx: '', shape: { M: L.rows }, tag: { rowExpert: L.tag } }
    : { sfx: '_masked', shape: { C: L.C }, tag: { maskedCount: L.tag } };
}

/** moe_gate_up_bf16(_masked) on permuted rows x[rows, H] (floats; sent as bf16). */
export function gateUpBf16Launch(L: GemmRows, x: ArrayLike<number>, wts: Pick<Weights, 'wg' | 'wu'>, d: FfnDims): Launch {
  const { sfx, shape, tag } = layoutParts(L);
  return [`moe_gate_up_bf16${sfx}`, { tensors: { x: bf16Bits(x), wg: bf16Bits(wts.wg), wu: bf16Bits(wts.wu), ...tag, h: new Uint16Array(L.rows * d.F) }, scalars: { ...shape, H: d.H, E: d.E, F: d.F } }];
}

/** moe_down_bf16(_masked) on h[rows, F] (floats; sent as bf16). */
export function downBf16Launch(L: GemmRows, h: ArrayLike<number>, wts: Pick<Weights, 'wd'>, d: FfnDims): Launch {
  const { sfx, shape, tag } = layoutParts(L);
  return [`moe_down_bf16${sfx}`, { tensors: { h: bf16Bits(h), wd: bf16Bits(wts.wd), ...tag, y: new Uint16Array(L.rows * d.H) }, scalars: { ...shape, H: d.H, E: d.E, F: d.F } }];
}

/** moe_gate_up_fp8(_masked) on quantised rows (codes xq[rows, H], scales xs[rows, cdiv(H, 128)]). */
export function gateUpFp8Launch(L: GemmRows, xq: Uint8Array, xs: Float32Array, qw: QuantWeights, d: FfnDims): Launch {
  const { sfx, shape, tag } = layoutParts(L);
  return [`moe_gate_up_fp8${sfx}`, {
    tensors: { xq, xs, wg: qw.wg.q, wu: qw.wu.q, wgs: qw.wg.s, wus: qw.wu.s, ...tag, h: new Uint16Array(L.rows * d.F) },
    scalars: { ...shape, H: d.H, E: d.E, F: d.F },
  }];
}

/** moe_down_fp8(_masked) on h quantised per (row, 128 group). */
export function downFp8Launch(L: GemmRows, hq: Quantised, qw: QuantWeights, d: FfnDims): Launch {
  const { sfx, shape, tag } = layoutParts(L);
  return [`moe_down_fp8${sfx}`, {
    tensors: { hq: hq.q, hs: hq.s, wd: qw.wd.q, wds: qw.wd.s, ...tag, y: new Uint16Array(L.rows * d.H) },
    scalars: { ...shape, H: d.H, E: d.E, F: d.F },
  }];
}
