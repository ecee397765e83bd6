/**
 * Forward-pass glue kernels (ops/model/) at the model's H = 4096 and E = 256 for a few
 * tokens. References and inputs: test/harness/model-ops-reference.ts.
 *
 * Tolerances (test/model-ops.test.ts):
 *   embed_tokens, gather_rows, concat_halves   exact, out-of-range rows zero
 *   residual_add, add_rmsnorm's sum            exact: the exact sum rounded once to bf16
 *   add_rmsnorm's y                            rtol = 2^-8 (one bf16 rounding plus f32 math)
 *   router_logits                              the worst-case f32 summation bound of its tree
 */
import { packArray } from '../../compiler/ir/numerics.js';
import { uniform } from '../../test/harness/prng.js';
import { rmsnormRef } from '../../test/harness/reference.js';
import {
  bf16Values, concatHalvesRef, gatherRowsRef, linearErrorBound, linearRef, residualAddRef, rowIndices,
} from '../../test/harness/model-ops-reference.js';
import { close, exact, floats, launch, type Case, type Verdict } from './check.js';

const bits = (v: ArrayLike<number>) => packArray('bf16', v) as Uint16Array;
/** Output buffers start as NaN, so every element a kernel owns must be written. */
const nan = (n: number) => new Uint16Array(n).fill(0x7fc0);
/** router_logits' default WG: the thread count its error bound assumes. */
const ROUTER_WG = 128;

/** |got - want| <= bound[i]; the score is the largest |err| / bound. */
function within(got: ArrayLike<number>, want: ArrayLike<number>, bound: ArrayLike<number>): Verdict {
  let score = 0;
  let first = -1;
  for (let i = 0; i < want.length; i++) {
    const ratio = Math.abs(got[i] - want[i]) / bound[i];
    if (!(ratio <= 1) && first < 0) first = i;
    score = Math.max(score, Number.isNaN(ratio) ? Infinity : ratio);
  }
  const ok = got.length === want.length && first < 0;
  return { ok, score, text: ok ? `|err| <= ${score.toFixed(3)} of the f32 bound` : `[${first}]: ${got[first]} vs ${want[first]}, bound ${bound[first]}` };
}

export function modelOpsCases(): Case[] {
  const T = 5, H = 4096, V = 1000, E = 256, S = 37;
  const table = bf16Values(1, V * H, -20, 20, true);
  const ids = rowIndices(2, T, V);
  const x = bf16Values(3, S * H, -20, 20, true);
  const rows = Int32Array.of(12, 36, -1);
  const a = bf16Values(4, T * H, -4, 3), b = bf16Values(5, T * H, -4, 3);
  const w = bits(uniform(6, H, 0.5, 1.5));
  const sum = residualAddRef(a, b);
  const gate = Float32Array.from(uniform(7, E * H, -0.1, 0.1));
  const logits = linearRef(a, gate, T, H, E);
  return [
    launch('embed_tokens', `V=${V} H=${H} T=${T}`, () => ({ tensors: { table: bits(table), ids, out: nan(T * H) }, scalars: { V, H, T } }),
      (o) => ({ out: exact(floats(o.out), gatherRowsRef(table, ids, V, H)) })),
    launch('gather_rows', `T=${S} H=${H} R=${rows.length}`, () => ({ tensors: { x: bits(x), rows, out: nan(rows.length * H) }, scalars: { T: S, H, R: rows.length } }),
      (o) => ({ out: exact(floats(o.out), gatherRowsRef(x, rows, S, H)) })),
    launch('concat_halves', `T=${T} H=${H}`, () => ({ tensors: { a: bits(a), b: bits(b), out: nan(T * 2 * H) }, scalars: { T, H } }),
      (o) => ({ out: exact(floats(o.out), concatHalvesRef(a, b, T, H)) })),
    launch('residual_add', `N=${T * H}`, () => ({ tensors: { a: bits(a), b: bits(b), out: nan(T * H) }, scalars: { N: T * H } }),
      (o) => ({ out: exact(floats(o.out), sum) })),
    launch('add_rmsnorm', `T=${T} D=${H}`, () => ({ tensors: { a: bits(a), b: bits(b), w, sum: nan(T * H), y: nan(T * H) }, scalars: { T, D: H } }),
      (o) => ({ sum: exact(floats(o.sum), sum), y: close(floats(o.y), rmsnormRef(sum, floats(w), T, H), { rtol: 2 ** -8, atol: 0 }) })),
    launch('router_logits', `T=${T} E=${E} H=${H}`, () => ({ tensors: { x: bits(a), w: gate, logits: new Float32Array(T * E).fill(NaN) }, scalars: { T, H, E } }),
      (o) => ({ logits: within(o.logits as Float32Array, logits.y, logits.absSum.map((s) => linearErrorBound(s, H, ROUTER_WG))) })),
  ];
}
