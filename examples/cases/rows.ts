/**
 * Rows kernels (ops/rows: GEMV-style Linear, dense FFN and MoE experts for decode), at
 * decode sizes: T = 4 rows of a 768 x 256 Linear (partial FP8 blocks: 768 = 6 x 128, 256 =
 * 2 x 128, so the dense ones are whole and the FFN ones are not), and a routing of T = 4
 * tokens to TOPK = 4 of E = 16 experts (H = 256, F = 200) with -1 and out-of-range ids.
 * Inputs, references and tolerances (2^-16 sqrt(K) absolute for f32 accumulation, plus
 * 2^-8 relative for the bf16 rounding): test/harness/rows-reference.ts; test/rows.test.ts
 * covers odd shapes.
 */
import { rowsLaunch, rowsTolerance, type RowsDims, type RowsKernel } from '../../test/harness/rows-reference.js';
import { close, floats, launch, type Case } from './check.js';

const LINEAR: RowsDims = { T: 4, N: 768, K: 256 };
const FFN: RowsDims = { T: 4, N: 200, K: 256 };
const MOE_GLU: RowsDims = { T: 4, N: 200, K: 256, E: 16, TOPK: 4 };
const MOE_DOWN: RowsDims = { T: 4, N: 256, K: 200, E: 16, TOPK: 4 };
const CASES: readonly [RowsKernel, RowsDims][] = [
  ['linear_rows_bf16', LINEAR], ['linear_rows_fp8', LINEAR], ['logits_rows', LINEAR],
  ['gate_up_rows_bf16', FFN], ['gate_up_rows_fp8', FFN],
  ['moe_gate_up_rows_bf16', MOE_GLU], ['moe_gate_up_rows_fp8', MOE_GLU],
  ['moe_down_rows_bf16', MOE_DOWN], ['moe_down_rows_fp8', MOE_DOWN],
];

export function rowsCases(): Case[] {
  return CASES.map(([name, d], i) => {
    const l = rowsLaunch(name, d, 300 + i);
    const shape = Object.entries(d).map(([k, v]) => `${k}=${v}`).join(' ');
    return launch(name, shape, () => l.args, (o) => ({ [l.out]: close(floats(o[l.out]), l.want, rowsTolerance(name, d.K)) }));
  });
}
