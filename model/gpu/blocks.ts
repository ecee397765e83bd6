/**
 * The model's building blocks as launches of generated kernels on resident tensors:
 * Linear layers (BF16, or FP8 with dynamic 1x128 activation quantisation), the dense
 * SwiGLU FFN, the MoE layer (router, contiguous permutation, grouped GEMMs, combine),
 * norms and residual adds. Every block takes a role prefix so that activations of
 * different layers that are alive at once never share a buffer.
 *
 * A dense Linear is the masked grouped GEMM with one expert (ops/moe/grouped_gemm.ts):
 * it reads PyTorch's [N, K] weights in place and computes x·Wᵀ with f32 accumulation.
 * Steps of at most ROWS_MAX rows (decode, MTP verify) use the GEMV-style kernels of
 * ops/rows/ instead: a tensor-core tile of 32 (WebGPU) to 128 (CUDA) rows would be mostly
 * padding, and the MoE layer then reads each token's experts directly, with no permutation. FP8 there is weight-only
 * (activations stay bf16).
 */
import type { DeviceTensor, KernelRuntime } from '../../backends/common/kernel-runtime.js';
import { FP8_BLOCK, cdiv, moeDims } from '../../ops/moe/shapes.js';
import type { DenseFfnWeights, Linear, MoeWeights } from './weights.js';
import type { Recorder } from './recorder.js';

/** The most rows a step may have for the GEMV-style kernels. */
export const ROWS_MAX = 16;

/** maskedCount = [T] for the one-expert masked GEMMs. */
const countOf = (r: Recorder, T: number) => r.ints(`count.${T}`, [T]);

/** x[T, K] with one f32 scale per (row, 128-wide group), for the FP8 GEMMs. */
async function quantise(r: Recorder, role: string, x: DeviceTensor, T: number, K: number): Promise<{ q: DeviceTensor; s: DeviceTensor }> {
  const G = cdiv(K, FP8_BLOCK);
  const q = r.tensor(`${role}.xq`, 'fp8e4m3', T * K);
  const s = r.tensor(`${role}.xs`, 'f32', T * G);
  await r.launch('quant_act_e4m3', { x, q, scales: s }, { T, K });
  return { q, s };
}

/** y[T, N] = x[T, K]·Wᵀ, bf16 out. */
export async function linear(r: Recorder, role: string, x: DeviceTensor, T: number, L: Linear): Promise<DeviceTensor> {
  const y = r.tensor(`${role}.y`, 'bf16', T * L.n);
  if (T <= ROWS_MAX) {
    if (!L.s) await r.launch('linear_rows_bf16', { x, w: L.w, y }, { T, K: L.k, N: L.n });
    else await r.launch('linear_rows_fp8', { x, w: L.w, ws: L.s, y }, { T, K: L.k, N: L.n });
    return y;
  }
  const maskedCount = countOf(r, T);
  if (!L.s) {
    await r.launch('moe_down_bf16_masked', { h: x, wd: L.w, maskedCount, y }, { C: T, H: L.n, E: 1, F: L.k });
  } else {
    const { q, s } = await quantise(r, role, x, T, L.k);
    await r.launch('moe_down_fp8_masked', { hq: q, hs: s, wd: L.w, wds: L.s, maskedCount, y }, { C: T, H: L.n, E: 1, F: L.k });
  }
  return y;
}

/** down(silu(x·Wgᵀ) * (x·Wuᵀ)): gate and up in one fused GEMM. */
export async function denseFfn(r: Recorder, role: string, x: DeviceTensor, T: number, H: number, w: DenseFfnWeights): Promise<DeviceTensor> {
  const F = w.gate.n;
  const h = r.tensor(`${role}.h`, 'bf16', T * F);
  if (T <= ROWS_MAX) {
    if (!w.gate.s) await r.launch('gate_up_rows_bf16', { x, wg: w.gate.w, wu: w.up.w, h }, { T, H, F });
    else await r.launch('gate_up_rows_fp8', { x, wg: w.gate.w, wu: w.up.w, wgs: w.gate.s, wus: w.up.s!, h }, { T, H, F });
    return linear(r, `${role}.down`, h, T, w.down);
  }
  const maskedCount = countOf(r, T);
  if (!w.gate.s) {
    await r.launch('moe_gate_up_bf16_masked', { x, wg: w.gate.w, wu: w.up.w, maskedCount, h }, { C: T, H, E: 1, F });
  } else {
    const { q, s } = await quantise(r, `${role}.in`, x, T, H);
    await r.launch('moe_gate_up_fp8_masked', { xq: q, xs: s, wg: w.gate.w, wu: w.up.w, wgs: w.gate.s, wus: w.up.s!, maskedCount, h }, { C: T, H, E: 1, F });
  }
  return linear(r, `${role}.down`, h, T, w.down);
}

/**
 * The MoE layer: sigmoid router with bias-corrected top-k, the contiguous layout (each
 * expert's rows together, padded to the GEMM tile), grouped gate/up + SwiGLU and down
 * GEMMs over the experts, then the weighted sum back in token order.
 */
export async function moeFfn(r: Recorder, role: string, x: DeviceTensor, T: number, H: number, E: number, TOPK: number, w: MoeWeights): Promise<DeviceTensor> {
  const F = w.gate.n;
  const logits = r.tensor(`${role}.logits`, 'f32', T * E);
  await r.launch('router_logits', { x, w: w.router, logits }, { T, H, E });
  const ids = r.tensor(`${role}.ids`, 'i32', T * TOPK);
  const weights = r.tensor(`${role}.weights`, 'f32', T * TOPK);
  await r.launch('moe_router', { logits, bias: w.bias, ids, weights }, { T, E, TOPK });
  if (T <= ROWS_MAX) return moeRows(r, role, x, T, H, E, TOPK, F, ids, weights, w);
  const { NC, MP } = moeDims(T, TOPK, E, moeAlign(r.rt, w.gate.s ? 'fp8' : 'bf16'));
  const chunkCounts = r.tensor(`${role}.chunkCounts`, 'i32', NC * E);
  const chunkOffsets = r.tensor(`${role}.chunkOffsets`, 'i32', NC * E);
  const counts = r.tensor(`${role}.counts`, 'i32', E);
  const offsets = r.tensor(`${role}.offsets`, 'i32', E);
  await r.launch('moe_count', { ids, chunkCounts }, { T, TOPK, E });
  await r.launch('moe_scan', { chunkCounts, chunkOffsets, counts, offsets }, { NC, E });
  const rowIndex = r.tensor(`${role}.rowIndex`, 'i32', MP);
  const rowExpert = r.tensor(`${role}.rowExpert`, 'i32', MP);
  const slotRow = r.tensor(`${role}.slotRow`, 'i32', T * TOPK);
  await r.launch('moe_place_contiguous', { ids, chunkOffsets, counts, offsets, rowIndex, rowExpert, slotRow }, { T, TOPK, E, MP });
  const h = r.tensor(`${role}.h`, 'bf16', MP * F);
  const y = r.tensor(`${role}.y`, 'bf16', MP * H);
  if (!w.gate.s) {
    const xp = r.tensor(`${role}.xp`, 'bf16', MP * H);
    await r.launch('moe_gather', { x, rowIndex, xp }, { T, H, R: MP, TOPK });
    await r.launch('moe_gate_up_bf16', { x: xp, wg: w.gate.w, wu: w.up.w, rowExpert, h }, { M: MP, H, E, F });
    await r.launch('moe_down_bf16', { h, wd: w.down.w, rowExpert, y }, { M: MP, H, E, F });
  } else {
    const { q, s } = await quantise(r, `${role}.in`, x, T, H);
    const xqp = r.tensor(`${role}.xqp`, 'fp8e4m3', MP * H);
    const xsp = r.tensor(`${role}.xsp`, 'f32', MP * cdiv(H, FP8_BLOCK));
    await r.launch('moe_gather_fp8', { xq: q, xs: s, rowIndex, xqp, xsp }, { T, H, R: MP, TOPK });
    await r.launch('moe_gate_up_fp8', { xq: xqp, xs: xsp, wg: w.gate.w, wu: w.up.w, wgs: w.gate.s, wus: w.up.s!, rowExpert, h }, { M: MP, H, E, F });
    const hq = await quantise(r, `${role}.mid`, h, MP, F);
    await r.launch('moe_down_fp8', { hq: hq.q, hs: hq.s, wd: w.down.w, wds: w.down.s!, rowExpert, y }, { M: MP, H, E, F });
  }
  const out = r.tensor(`${role}.out`, 'bf16', T * H);
  await r.launch('moe_combine', { y, slotRow, w: weights, out }, { R: MP, H, T, TOPK });
  return out;
}

/**
 * The contiguous layout's expert block (tunable ALIGN, one value per target: 32 on WebGPU,
 * 128 on CUDA) as this runtime's kernels were generated, the same in every kernel that
 * depends on it: a permutation padded to one block size and GEMM tiles checked against
 * another would let a tile straddle two experts.
 */
export function moeAlign(rt: KernelRuntime, weights: 'bf16' | 'fp8'): number {
  const names = ['moe_scan', 'moe_place_contiguous', ...(weights === 'bf16' ? ['moe_gate_up_bf16', 'moe_down_bf16'] : ['moe_gate_up_fp8', 'moe_down_fp8'])];
  const values = names.map((n) => rt.kernel(n).tunables.ALIGN);
  if (values.some((v) => v !== values[0]) || !Number.isInteger(values[0]) || values[0] < 1) {
    throw new Error(`MoE layer on ${rt.backend}: the contiguous layout's ALIGN differs between its kernels (${names.map((n, i) => `${n} ${values[i]}`).join(', ')}); regenerate them together`);
  }
  return values[0];
}

/** Few tokens: each token's chosen experts applied directly, summed with the router weights in slot order. */
async function moeRows(r: Recorder, role: string, x: DeviceTensor, T: number, H: number, E: number, TOPK: number, F: number, ids: DeviceTensor, weights: DeviceTensor, w: MoeWeights): Promise<DeviceTensor> {
  const h = r.tensor(`${role}.h`, 'bf16', T * TOPK * F);
  const out = r.tensor(`${role}.out`, 'bf16', T * H);
  if (!w.gate.s) {
    await r.launch('moe_gate_up_rows_bf16', { x, ids, wg: w.gate.w, wu: w.up.w, h }, { T, TOPK, H, F, E });
    await r.launch('moe_down_rows_bf16', { h, ids, wd: w.down.w, w: weights, out }, { T, TOPK, H, F, E });
  } else {
    await r.launch('moe_gate_up_rows_fp8', { x, ids, wg: w.gate.w, wu: w.up.w, wgs: w.gate.s, wus: w.up.s!, h }, { T, TOPK, H, F, E });
    await r.launch('moe_down_rows_fp8', { h, ids, wd: w.down.w, wds: w.down.s!, w: weights, out }, { T, TOPK, H, F, E });
  }
  return out;
}

export async function rmsnorm(r: Recorder, role: string, x: DeviceTensor, w: DeviceTensor, T: number, D: number): Promise<DeviceTensor> {
  const y = r.tensor(role, 'bf16', T * D);
  await r.launch('rmsnorm', { x, w, y }, { T, D });
  return y;
}

/** sum = a + b (the residual stream, rounded to bf16 once) and y = rmsnorm(sum)·w, in one launch. */
export async function addNorm(r: Recorder, role: string, a: DeviceTensor, b: DeviceTensor, w: DeviceTensor, T: number, D: number): Promise<{ sum: DeviceTensor; y: DeviceTensor }> {
  const sum = r.tensor(`${role}.sum`, 'bf16', T * D);
  const y = r.tensor(`${role}.y`, 'bf16', T * D);
  await r.launch('add_rmsnorm', { a, b, w, sum, y }, { T, D });
  return { sum, y };
}

export async function add(r: Recorder, role: string, a: DeviceTensor, b: DeviceTensor, n: number): Promise<DeviceTensor> {
  const out = r.tensor(role, 'bf16', n);
  await r.launch('residual_add', { a, b, out }, { N: n });
  return out;
}
