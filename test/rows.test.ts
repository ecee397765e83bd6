import { suite } from 'uvu';
import { unpackArray } from '../compiler/ir/numerics.js';
import type { TunableChoice } from '../compiler/passes/specialise.js';
import { BACKENDS, runKernel } from './harness/backends.js';
import { assertClose } from './harness/close.js';
import { rowsLaunch, rowsTolerance, type RowsDims, type RowsKernel } from './harness/rows-reference.js';

/**
 * ops/rows/*.ts (GEMV-style decode kernels) against float64 references
 * (test/harness/rows-reference.ts, which states the tolerance: 2^-16 * sqrt(K) absolute for
 * f32 accumulation, plus 2^-8 relative for the one bf16 rounding). Shapes: T = 1, 3 and 17
 * (row groups of TMAX = 4 by default, and 16, 8, 1 below: the last group is one row); N and K of 1, 7, 37, 256, 300,
 * 320, so FP8 blocks are partial along both; E = 8, TOPK = 2 with ids of -1, E, -5, and
 * repeated experts (within a token and across tokens). Outputs start as NaN: an element a
 * kernel does not write fails. The interpreter runs the cases of at most ~40K
 * multiply-adds.
 */
const SHAPES: readonly RowsDims[] = [
  { T: 1, N: 37, K: 7 },
  { T: 3, N: 300, K: 320 },
  { T: 17, N: 37, K: 256 },
  { T: 17, N: 1, K: 7 },
  { T: 3, N: 1, K: 256 },
];
const MOE_SHAPES: readonly RowsDims[] = [
  { T: 1, N: 37, K: 7, E: 8, TOPK: 2 },
  { T: 3, N: 300, K: 320, E: 8, TOPK: 2 },
  { T: 17, N: 37, K: 256, E: 8, TOPK: 2 },
  { T: 5, N: 1, K: 7, E: 8, TOPK: 3 },
];
const DENSE: readonly RowsKernel[] = ['linear_rows_bf16', 'linear_rows_fp8', 'logits_rows', 'gate_up_rows_bf16', 'gate_up_rows_fp8'];
const MOE: readonly RowsKernel[] = ['moe_gate_up_rows_bf16', 'moe_gate_up_rows_fp8', 'moe_down_rows_bf16', 'moe_down_rows_fp8'];
const INTERP_WORK = 40_000;
const work = (d: RowsDims) => d.T * (d.TOPK ?? 1) * d.N * d.K;
/** Non-default workgroup sizes, on one shape each (compiled fresh). */
const CHOICES: readonly [RowsKernel, TunableChoice][] = [
  ['linear_rows_fp8', { WG: 128, TMAX: 16 }],
  ['logits_rows', { WG: 64, TMAX: 8 }],
  ['gate_up_rows_bf16', { WG: 32, TMAX: 1 }],
  ['moe_down_rows_fp8', { WG: 32 }],
];

for (const backend of BACKENDS) {
  const t = suite(`rows kernels on ${backend}`);
  const check = async (name: RowsKernel, d: RowsDims, seed: number, choice?: TunableChoice) => {
    const l = rowsLaunch(name, d, seed);
    const out = await runKernel(backend, name, l.args, choice);
    const got = out[l.out];
    const values = got instanceof Uint16Array ? unpackArray('bf16', got) : (got as Float32Array);
    assertClose(values, l.want, rowsTolerance(name, d.K), `${name} ${JSON.stringify(d)} on ${backend}`);
  };
  for (const name of [...DENSE, ...MOE]) {
    const shapes = (MOE.includes(name) ? MOE_SHAPES : SHAPES).filter((d) => backend !== 'interp' || work(d) <= INTERP_WORK);
    t(`${name}: ${shapes.map((d) => `T=${d.T} N=${d.N} K=${d.K}`).join(', ')}`, async () => {
      for (const [i, d] of shapes.entries()) await check(name, d, 100 * i + 7);
    });
  }
  for (const [name, choice] of CHOICES) {
    const d: RowsDims = backend === 'interp' ? { T: 17, N: 37, K: 7, E: 8, TOPK: 2 } : { T: 17, N: 300, K: 320, E: 8, TOPK: 2 };
    t(`${name} ${JSON.stringify(choice)}: T=${d.T} N=${d.N} K=${d.K}`, () => check(name, d, 991, choice));
  }
  t.run();
}
