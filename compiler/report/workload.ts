/**
 * What one launch of a kernel does at a preset's shapes: the shapes (from the model's
 * config: prefill of T tokens in one sequence, decode of a batch), the useful FLOPs, and
 * for tiled GEMMs the traffic their tile re-reads put on L2. FLOPs count multiply-adds
 * as 2 and only useful work: a grouped GEMM's padding rows and attention's masked-out
 * keys are not work. Kernels with no entry here are reported by bytes alone.
 */
import { presetConfig } from '../../model/presets.js';
import { decodeSplits } from '../../model/gpu/decode-splits.js';

export type ReportPreset = 'mimo-v2-flash' | 'tiny';
export const REPORT_PRESETS: readonly ReportPreset[] = ['mimo-v2-flash', 'tiny'];

export interface Case {
  /** What the shape is in the model, e.g. `o_proj prefill T=4096`. */
  readonly label: string;
  /** The kernel's shape symbols and runtime scalars. */
  readonly dims: Readonly<Record<string, number>>;
  /** Routed rows that are real tokens (grouped GEMMs; the rest of M or E·C is padding). */
  readonly rows?: number;
  /** Keys each query attends to, summed over queries (attention). */
  readonly keys?: number;
  /**
   * Share of the experts that receive a row, for the expert-weight bindings: balanced
   * routing of B tokens to k of E experts leaves (1 - k/E)^B of them untouched, and an
   * untouched expert's weights are never read.
   */
  readonly expertsTouched?: number;
}

/** The operand class whose tensor-core peak is the kernel's ideal (fp32: CUDA cores). */
export type MathClass = 'fp8' | 'bf16' | 'fp32';

export interface Family {
  readonly math: MathClass;
  /** Useful FLOPs per launch. */
  readonly flops: (d: Readonly<Record<string, number>>, c: Case) => number;
  /** Tile re-reads, for L2 traffic: A is read once per N tile, W once per M tile of its group. */
  readonly tiles?: { readonly a: readonly string[]; readonly w: readonly string[]; readonly n: (d: Readonly<Record<string, number>>) => number };
  /** Bindings holding expert weights (scaled by expertsTouched). */
  readonly experts?: readonly string[];
}

const QK = 192;
const V = 128;
export const rowsOf = (d: Readonly<Record<string, number>>, c: Case) => c.rows ?? d.M ?? d.E * d.C;

const gateUp = (math: MathClass, fp8: boolean): Family => ({
  math, flops: (d, c) => 2 * 2 * rowsOf(d, c) * d.H * d.F,
  tiles: { a: [fp8 ? 'xq' : 'x'], w: ['wg', 'wu'], n: (d) => d.F }, experts: fp8 ? ['wg', 'wu', 'wgs', 'wus'] : ['wg', 'wu'],
});
const down = (math: MathClass, fp8: boolean): Family => ({
  math, flops: (d, c) => 2 * rowsOf(d, c) * d.H * d.F,
  tiles: { a: [fp8 ? 'hq' : 'h'], w: ['wd'], n: (d) => d.H }, experts: fp8 ? ['wd', 'wds'] : ['wd'],
});
const attention: Family = { math: 'bf16', flops: (d, c) => 2 * d.HQ * (QK + V) * (c.keys ?? 0) };

export const FAMILIES: Readonly<Record<string, Family>> = {
  gemm_bf16: { math: 'bf16', flops: (d) => 2 * d.M * d.N * d.K, tiles: { a: ['a'], w: ['b'], n: (d) => d.N } },
  gemm_f32: { math: 'fp32', flops: (d) => 2 * d.M * d.N * d.K, tiles: { a: ['a'], w: ['b'], n: (d) => d.N } },
  moe_gate_up_bf16: gateUp('bf16', false), moe_gate_up_bf16_masked: gateUp('bf16', false),
  moe_gate_up_fp8: gateUp('fp8', true), moe_gate_up_fp8_masked: gateUp('fp8', true),
  moe_down_bf16: down('bf16', false), moe_down_bf16_masked: down('bf16', false),
  moe_down_fp8: down('fp8', true), moe_down_fp8_masked: down('fp8', true),
  linear_rows_bf16: { math: 'bf16', flops: (d) => 2 * d.T * d.N * d.K },
  linear_rows_fp8: { math: 'fp8', flops: (d) => 2 * d.T * d.N * d.K },
  logits_rows: { math: 'bf16', flops: (d) => 2 * d.T * d.N * d.K },
  gate_up_rows_bf16: { math: 'bf16', flops: (d) => 4 * d.T * d.H * d.F },
  gate_up_rows_fp8: { math: 'fp8', flops: (d) => 4 * d.T * d.H * d.F },
  moe_gate_up_rows_bf16: { math: 'bf16', flops: (d) => 4 * d.T * d.TOPK * d.H * d.F, experts: ['wg', 'wu'] },
  moe_gate_up_rows_fp8: { math: 'fp8', flops: (d) => 4 * d.T * d.TOPK * d.H * d.F, experts: ['wg', 'wu', 'wgs', 'wus'] },
  moe_down_rows_bf16: { math: 'bf16', flops: (d) => 2 * d.T * d.TOPK * d.H * d.F, experts: ['wd'] },
  moe_down_rows_fp8: { math: 'fp8', flops: (d) => 2 * d.T * d.TOPK * d.H * d.F, experts: ['wd', 'wds'] },
  swa_prefill: attention, global_prefill: attention, swa_decode: attention, global_decode_partial: attention,
};

/** The cases of every kernel the preset gives shapes for. */
export function presetCases(preset: ReportPreset): Readonly<Record<string, readonly Case[]>> {
  const cfg = presetConfig(preset);
  const real = preset === 'mimo-v2-flash';
  const T = real ? 4096 : 64;
  const B = real ? 16 : 4;
  const ctx = real ? 32768 : 256;
  const H = cfg.hiddenSize;
  const F = cfg.moeIntermediateSize;
  const E = cfg.experts;
  const k = cfg.expertsPerToken;
  const { swa, global } = cfg.attention;
  const W = swa.window ?? 0;
  const pre = `prefill T=${T}`;
  const dec = `decode B=${B}`;
  // Balanced routing: every expert gets T·k/E rows, padded to the contiguous layout's 32.
  const perExpert = Math.ceil((T * k) / E);
  const M = E * Math.ceil(perExpert / 32) * 32;
  const touched = 1 - (1 - k / E) ** B;
  const moe = { H, E, F };
  const grouped: Case[] = [{ label: `${pre}, balanced`, dims: { M, ...moe }, rows: T * k }];
  const masked: Case[] = [
    { label: `${pre}, balanced`, dims: { C: perExpert, ...moe }, rows: T * k },
    { label: `${dec}, balanced`, dims: { C: B, ...moe }, rows: B * k, expertsTouched: touched },
  ];
  const rowsMoe: Case[] = [{ label: `${dec}, balanced`, dims: { T: B, TOPK: k, H, F, E }, expertsTouched: touched }];
  const oProjK = swa.heads * swa.vHeadDim;
  const qkvN = swa.heads * swa.headDim + swa.kvHeads * (swa.headDim + swa.vHeadDim);
  // Keys visited: the window (current key included) for SWA, all earlier keys for global.
  const swaKeys = Array.from({ length: T }, (_, t) => Math.min(t + 1, W)).reduce((a, b) => a + b, 0);
  const dense = { T: B, H, F: cfg.intermediateSize };
  const splits = decodeSplits({ B, HQ: global.heads, HKV: global.kvHeads, NQ: 1, maxLen: ctx });
  return {
    gemm_bf16: [{ label: `o_proj ${pre}`, dims: { M: T, N: H, K: oProjK } }],
    gemm_f32: [{ label: `o_proj shape, ${pre}`, dims: { M: T, N: H, K: oProjK } }],
    moe_gate_up_bf16: grouped, moe_gate_up_fp8: grouped, moe_down_bf16: grouped, moe_down_fp8: grouped,
    moe_gate_up_bf16_masked: masked, moe_gate_up_fp8_masked: masked, moe_down_bf16_masked: masked, moe_down_fp8_masked: masked,
    moe_gate_up_rows_bf16: rowsMoe, moe_gate_up_rows_fp8: rowsMoe, moe_down_rows_bf16: rowsMoe, moe_down_rows_fp8: rowsMoe,
    linear_rows_fp8: [{ label: `SWA qkv_proj ${dec}`, dims: { T: B, K: H, N: qkvN } }],
    linear_rows_bf16: [{ label: `o_proj ${dec}`, dims: { T: B, K: oProjK, N: H } }],
    logits_rows: [{ label: `lm_head ${dec}`, dims: { T: B, K: H, N: cfg.vocabSize } }],
    gate_up_rows_bf16: [{ label: `dense FFN ${dec}`, dims: dense }],
    gate_up_rows_fp8: [{ label: `dense FFN ${dec}`, dims: dense }],
    swa_prefill: [{ label: pre, dims: { T, S: T, HQ: swa.heads, HKV: swa.kvHeads, B: 1 }, keys: swaKeys }],
    global_prefill: [{ label: pre, dims: { T, S: T, HQ: global.heads, HKV: global.kvHeads, B: 1 }, keys: (T * (T + 1)) / 2 }],
    swa_decode: [{ label: dec, dims: { B, NQ: 1, HQ: swa.heads, HKV: swa.kvHeads, R: W }, keys: B * W }],
    // P as the model picks it for this context on an H200 (model/gpu/decode-splits.ts).
    global_decode_partial: [{ label: `${dec}, context ${ctx}`, dims: { B, NQ: 1, HQ: global.heads, HKV: global.kvHeads, SMAX: ctx, P: splits }, keys: B * ctx }],
    decode_merge: [{ label: `${dec}, context ${ctx}`, dims: { B, NQ: 1, HQ: global.heads, P: splits } }],
    rmsnorm: [{ label: pre, dims: { T, D: H } }],
    add_rmsnorm: [{ label: pre, dims: { T, D: H } }],
    quant_act_e4m3: [{ label: pre, dims: { T, K: H } }],
    router_logits: [{ label: pre, dims: { T, H, E } }],
    moe_router: [{ label: pre, dims: { T, E, TOPK: k } }],
    swiglu: [{ label: `dense FFN ${pre}`, dims: { N: T * cfg.intermediateSize } }],
  };
}
