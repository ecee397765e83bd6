/**
 * Inputs, launch arguments and float64 references for the rows kernels (ops/rows/*.ts),
 * shared by test/rows.test.ts and examples/cases/rows.ts. The references are the MoE ones
 * (test/harness/moe-reference.ts: x·Wᵀ, SwiGLU, weighted combine) applied to the
 * definitions: a dense layer is one expert, a (token, slot) pair is one row. FP8 weights
 * are quantised in 128x128 blocks there too, and the reference multiplies by the
 * dequantised values (decode(q) * scale, exact in float64).
 *
 * Tolerance (rowsTolerance): the kernels accumulate in f32 in k order and round once. f32
 * accumulation of K products is within K * 2^-24 * Σ|x_k w_k|; we allow 2^-16 * sqrt(K)
 * absolute on O(1) data (each term below 1/sqrt(K) in size), far above what f32 does and far
 * below a wrong term (~1/K). A bf16 output adds its rounding, at most half an ulp: 2^-8
 * relative (possibly to the other side of a tie the f32 error moved: still < 2^-8 + atol).
 */
import type { HostArray, LaunchArgs } from '../../compiler/launch/args.js';
import type { Tolerance } from './close.js';
import { combineRef, downRef, expertWeights, gatherRef, gluRef, quantBlocks, type Quantised } from './moe-reference.js';
import { prng, uniform } from './prng.js';
import { bf16, bf16Bits, nanBf16 } from './bf16.js';

export type RowsKernel =
  | 'linear_rows_bf16' | 'linear_rows_fp8' | 'logits_rows'
  | 'gate_up_rows_bf16' | 'gate_up_rows_fp8'
  | 'moe_gate_up_rows_bf16' | 'moe_gate_up_rows_fp8' | 'moe_down_rows_bf16' | 'moe_down_rows_fp8';

/**
 * Sizes of one launch: T rows, and N x K the (per-expert) weight, PyTorch [N, K]. For gate/up
 * N = F and K = H; for moe_down N = H and K = F. E and TOPK only for moe_*.
 */
export interface RowsDims { readonly T: number; readonly N: number; readonly K: number; readonly E?: number; readonly TOPK?: number }

export interface RowsLaunch {
  readonly name: RowsKernel;
  readonly args: LaunchArgs;
  /** The output's name and its float64 reference. */
  readonly out: string;
  readonly want: Float64Array;
}

export const isFp8 = (name: RowsKernel): boolean => name.endsWith('_fp8');

export function rowsTolerance(name: RowsKernel, K: number): Tolerance {
  return { rtol: name === 'logits_rows' ? 0 : 2 ** -8, atol: 2 ** -16 * Math.sqrt(K) };
}

/** bf16 NaN in every output element, so one the kernel does not write fails the comparison. */
const iota = (n: number) => Int32Array.from({ length: n }, (_, i) => i);

/**
 * ids[T, TOPK] over E experts with what routing can produce and what it must survive: -1
 * (no expert), an id past E, a negative id other than -1, and the same expert twice.
 */
export function rowsIds(seed: number, T: number, TOPK: number, E: number): Int32Array {
  const r = prng(seed);
  // Slot s of the first tokens (TOPK = 2: tokens 1..3): [0, E], [0, -5], [3, 3].
  const fixed = new Map([[1, -1], [2, 0], [3, E], [4, 0], [5, -5], [6, 3 % E], [7, 3 % E]]);
  return Int32Array.from({ length: T * TOPK }, (_, s) => fixed.get(s) ?? (r() < 0.15 ? -1 : Math.floor(r() * E)));
}

/**
 * One weight [E, N, K] as the kernel takes it, under its binding name (bf16 bits, or e4m3
 * codes plus the scales under `scaleName`), and the values the reference multiplies by.
 */
function weight(fp8: boolean, seed: number, E: number, N: number, K: number, name: string, scaleName: string): { tensors: Record<string, HostArray>; values: ArrayLike<number> } {
  const key = `${seed} ${E} ${N} ${K}`;
  let m = weights.get(key);
  if (!m) weights.set(key, (m = { w: expertWeights(seed, E, N, K) }));
  if (!fp8) return { tensors: { [name]: bf16Bits(m.w) }, values: m.w };
  const q = (m.q ??= quantBlocks(m.w, E, N, K));
  return { tensors: { [name]: q.q, [scaleName]: q.s }, values: q.deq };
}
/** Weights by seed and shape: the bf16 and FP8 kernels, and every backend, share them (making them is most of a test's time). */
const weights = new Map<string, { w: Float32Array; q?: Quantised }>();

/** The launch of `name` on deterministic data of size `d`, and its reference. */
export function rowsLaunch(name: RowsKernel, d: RowsDims, seed: number): RowsLaunch {
  const { T, N, K } = d;
  const fp8 = isFp8(name);
  const x = bf16(uniform(seed, T * K));
  const scalars: Record<string, number> = { T };
  if (name === 'linear_rows_bf16' || name === 'linear_rows_fp8' || name === 'logits_rows') {
    const w = weight(fp8, seed + 1, 1, N, K, 'w', 'ws');
    const logits = name === 'logits_rows';
    const out = logits ? 'out' : 'y';
    const tensors = { x: bf16Bits(x), ...w.tensors, [out]: logits ? new Float32Array(T * N).fill(NaN) : nanBf16(T * N) };
    Object.assign(scalars, { N, K });
    return { name, args: { tensors, scalars }, out, want: downRef(x, w.values, () => 0, T, N, K) };
  }
  if (name === 'gate_up_rows_bf16' || name === 'gate_up_rows_fp8') {
    const [F, H] = [N, K];
    const wg = weight(fp8, seed + 1, 1, F, H, 'wg', 'wgs');
    const wu = weight(fp8, seed + 2, 1, F, H, 'wu', 'wus');
    Object.assign(scalars, { H, F });
    const tensors = { x: bf16Bits(x), ...wg.tensors, ...wu.tensors, h: nanBf16(T * F) };
    return { name, args: { tensors, scalars }, out: 'h', want: gluRef(x, wg.values, wu.values, () => 0, T, F, H) };
  }
  const E = d.E ?? 8;
  const TOPK = d.TOPK ?? 2;
  const ids = rowsIds(seed + 3, T, TOPK, E);
  const expertOf = (s: number) => (ids[s] >= 0 && ids[s] < E ? ids[s] : -1);
  Object.assign(scalars, { TOPK, E });
  if (name === 'moe_gate_up_rows_bf16' || name === 'moe_gate_up_rows_fp8') {
    const [F, H] = [N, K];
    const wg = weight(fp8, seed + 1, E, F, H, 'wg', 'wgs');
    const wu = weight(fp8, seed + 2, E, F, H, 'wu', 'wus');
    Object.assign(scalars, { H, F });
    const tensors = { x: bf16Bits(x), ids, ...wg.tensors, ...wu.tensors, h: nanBf16(T * TOPK * F) };
    const want = gluRef(gatherRef(x, iota(T * TOPK), TOPK, H), wg.values, wu.values, expertOf, T * TOPK, F, H);
    return { name, args: { tensors, scalars }, out: 'h', want };
  }
  // moe_down_rows_*: the weight is [E, H, F], its input rows h[T, TOPK, F].
  const [H, F] = [N, K];
  const h = bf16(uniform(seed + 4, T * TOPK * F));
  const rw = Float32Array.from(uniform(seed + 5, T * TOPK, 0, 1));
  const wd = weight(fp8, seed + 1, E, H, F, 'wd', 'wds');
  Object.assign(scalars, { H, F });
  const tensors = { h: bf16Bits(h), ids, ...wd.tensors, w: rw, out: nanBf16(T * H) };
  const y = downRef(h, wd.values, expertOf, T * TOPK, H, F);
  const want = combineRef(y, Int32Array.from(iota(T * TOPK), (s) => (expertOf(s) < 0 ? -1 : s)), rw, T, TOPK, H);
  return { name, args: { tensors, scalars }, out: 'out', want };
}
