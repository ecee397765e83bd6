import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { unpackArray } from '../compiler/ir/numerics.js';
import type { TunableChoice } from '../compiler/passes/specialise.js';
import { BACKENDS, opKernel, runKernel } from './harness/backends.js';
import { bf16, bf16Bits, nanBf16 } from './harness/bf16.js';
import { assertClose } from './harness/close.js';
import { uniform } from './harness/prng.js';
import { rmsnormRef } from './harness/reference.js';
import {
  bf16Values, concatHalvesRef, gatherRowsRef, linearErrorBound, linearRef, residualAddRef, rowIndices,
} from './harness/model-ops-reference.js';

/**
 * The forward-pass glue kernels of ops/model/ on every backend against float64 references
 * (test/harness/model-ops-reference.ts). Row copies must be bit-exact, zero rows included,
 * on data with ±0, ±inf, subnormals and the largest bf16; residual adds must equal the
 * exact sum rounded once to bf16 (NaN where it is inf - inf); add_rmsnorm's y is within
 * one bf16 rounding plus f32 math (2^-8 relative) of the float64 norm of the rounded sum,
 * and bit-identical to ops/rmsnorm.ts run on its `sum`; router_logits is within the
 * worst-case f32 summation bound of its reduction (linearErrorBound) and identical from run
 * to run. Outputs start as NaN so that an element never written fails.
 */
/** The default of a kernel's tunable (first candidate). */
const defaultOf = (kernel: string, tunable: string) => opKernel(kernel).tunables.find((t) => t.name === tunable)!.values[0];
/** Rows past the 65535-workgroup grid cap. */
const BIG_GRID = 65537;

/**
 * Identical values (Object.is: -0 is not +0, NaN matches NaN), naming the first difference.
 * With `ftz`, an expected value of magnitude <= 2^-126 may come out as ±0: WGSL lets
 * implementations flush f32 subnormals in arithmetic (SwiftShader does); CUDA without -ftz
 * and the interpreter keep them.
 */
function assertSame(got: ArrayLike<number>, want: ArrayLike<number>, label: string, ftz = false): void {
  assert.is(got.length, want.length, `${label}: length`);
  let bad = 0;
  let first = -1;
  for (let i = 0; i < want.length; i++) {
    const flushed = ftz && got[i] === 0 && Math.abs(want[i]) <= 2 ** -126;
    if (!Object.is(got[i], want[i]) && !flushed && bad++ === 0) first = i;
  }
  if (bad) assert.unreachable(`${label}: ${bad}/${want.length} differ, first at [${first}]: got ${got[first]}, want ${want[first]}`);
}

/** |got - want| <= bound[i] elementwise. */
function assertWithin(got: ArrayLike<number>, want: ArrayLike<number>, bound: ArrayLike<number>, label: string): void {
  assert.is(got.length, want.length, `${label}: length`);
  for (let i = 0; i < want.length; i++) {
    if (!(Math.abs(got[i] - want[i]) <= bound[i])) assert.unreachable(`${label}: [${i}] got ${got[i]}, want ${want[i]} (|err| ${Math.abs(got[i] - want[i])} > bound ${bound[i]})`);
  }
}

for (const backend of BACKENDS) {
  const t = suite(`model ops on ${backend}`);

  const embed = async (V: number, H: number, ids: Int32Array, choice?: TunableChoice) => {
    const table = bf16Values(V * 31 + H, V * H, -20, 20, true);
    const out = await runKernel(backend, 'embed_tokens', { tensors: { table: bf16Bits(table), ids, out: nanBf16(ids.length * H) }, scalars: { V, H, T: ids.length } }, choice);
    assertSame(out.out as Uint16Array, bf16Bits(gatherRowsRef(table, ids, V, H)), `embed_tokens V=${V} H=${H} T=${ids.length}`);
  };
  t('embed_tokens: T=1 in range, T=1 out of range (id V), T=3 with ids -1, V-1, V', async () => {
    await embed(5, 7, Int32Array.of(4));
    await embed(5, 7, Int32Array.of(5));
    await embed(9, 256, Int32Array.of(-1, 8, 9));
  });
  for (const [V, H, T] of [[1, 7, 3], [300, 256, 37], [1000, 4096, 37]]) {
    t(`embed_tokens V=${V} H=${H} T=${T}, 20% of ids out of range`, () => embed(V, H, rowIndices(V + T, T, V)));
  }

  const gather = async (T: number, H: number, rows: Int32Array, choice?: TunableChoice) => {
    const x = bf16Values(T * 7 + H, T * H, -30, 30, true);
    const out = await runKernel(backend, 'gather_rows', { tensors: { x: bf16Bits(x), rows, out: nanBf16(rows.length * H) }, scalars: { T, H, R: rows.length } }, choice);
    assertSame(out.out as Uint16Array, bf16Bits(gatherRowsRef(x, rows, T, H)), `gather_rows T=${T} H=${H} R=${rows.length}`);
  };
  t('gather_rows: the last row of each of 3 sequences, and rows -1, T', async () => {
    await gather(37, 256, Int32Array.of(9, 20, 36));
    await gather(1, 7, Int32Array.of(0, -1, 1));
  });
  for (const [T, H, R] of [[1, 7, 1], [3, 256, 37], [37, 4096, 3], [37, 7, 37]]) {
    t(`gather_rows T=${T} H=${H} R=${R}, 20% of rows out of range`, () => gather(T, H, rowIndices(T * 3 + R, R, T)));
  }

  const concat = async (T: number, H: number, choice?: TunableChoice) => {
    const a = bf16Values(T + H, T * H, -10, 10, true);
    const b = bf16Values(T + H + 1, T * H, -10, 10, true);
    const out = await runKernel(backend, 'concat_halves', { tensors: { a: bf16Bits(a), b: bf16Bits(b), out: nanBf16(T * 2 * H) }, scalars: { T, H } }, choice);
    assertSame(out.out as Uint16Array, bf16Bits(concatHalvesRef(a, b, T, H)), `concat_halves T=${T} H=${H}`);
  };
  for (const [T, H] of [[1, 7], [3, 256], [37, 4096], [37, 1]]) t(`concat_halves T=${T} H=${H}`, () => concat(T, H));

  /** b mixes values of a's scale (rounding, carries), far smaller ones, and -a (exact cancellation to +0). */
  const residualInputs = (N: number, seed: number) => {
    const a = bf16Values(seed, N, -12, 12, true);
    const near = bf16Values(seed + 1, N, -12, 12, true);
    const small = bf16Values(seed + 2, N, -40, -20);
    const b = Float32Array.from(a, (v, i) => (i % 5 === 0 ? -v : i % 5 === 1 ? small[i] : near[i]));
    return { a, b };
  };
  const residual = async (N: number, choice?: TunableChoice) => {
    const { a, b } = residualInputs(N, N);
    const out = await runKernel(backend, 'residual_add', { tensors: { a: bf16Bits(a), b: bf16Bits(b), out: nanBf16(N) }, scalars: { N } }, choice);
    assertSame(unpackArray('bf16', out.out as Uint16Array), residualAddRef(a, b), `residual_add N=${N}`, backend === 'webgpu');
  };
  for (const N of [1, 7, 3 * 256, 37 * 4096 + 3]) t(`residual_add N=${N}`, () => residual(N));
  t('residual_add: 0 + -0 = +0, -0 + -0 = -0, max + max = inf, inf - inf = NaN, halfway sums tie to even', async () => {
    const MAX = 3.3895313892515355e38;
    const a = Float32Array.of(0, -0, MAX, Infinity, 1, 1 + 2 ** -7);
    const b = Float32Array.of(-0, -0, MAX, -Infinity, 2 ** -8, 2 ** -8);
    const out = await runKernel(backend, 'residual_add', { tensors: { a: bf16Bits(a), b: bf16Bits(b), out: nanBf16(6) }, scalars: { N: 6 } });
    assertSame(unpackArray('bf16', out.out as Uint16Array), [0, -0, Infinity, NaN, 1, 1 + 2 ** -6], 'residual_add specials');
  });

  /** Row 1 (when T > 1) is b = -a: an exactly zero sum, whose norm must be 0, not NaN. */
  const addNorm = async (T: number, D: number, choice?: TunableChoice) => {
    const a = bf16Values(T * 11 + D, T * D, -4, 3);
    const b = bf16Values(T * 13 + D, T * D, -4, 3);
    if (T > 1) for (let d = 0; d < D; d++) b[D + d] = -a[D + d];
    const w = bf16(uniform(D, D, 0.5, 1.5));
    const args = { tensors: { a: bf16Bits(a), b: bf16Bits(b), w: bf16Bits(w), sum: nanBf16(T * D), y: nanBf16(T * D) }, scalars: { T, D } };
    const out = await runKernel(backend, 'add_rmsnorm', args, choice);
    const label = `add_rmsnorm T=${T} D=${D}${choice ? ` ${JSON.stringify(choice)}` : ''}`;
    const sumRef = residualAddRef(a, b);
    assertSame(unpackArray('bf16', out.sum as Uint16Array), sumRef, `${label} sum`);
    assertClose(unpackArray('bf16', out.y as Uint16Array), rmsnormRef(sumRef, w, T, D), { rtol: 2 ** -8, atol: 0 }, `${label} y`);
    const plain = await runKernel(backend, 'rmsnorm', { tensors: { x: out.sum, w: args.tensors.w, y: nanBf16(T * D) }, scalars: { T, D } }, choice);
    assertSame(out.y as Uint16Array, plain.y as Uint16Array, `${label} y vs rmsnorm(sum), bits`);
  };
  for (const [T, D] of [[1, 7], [3, 256], [37, 4096], [3, 1]]) t(`add_rmsnorm T=${T} D=${D}`, () => addNorm(T, D));

  const logits = async (T: number, E: number, H: number, choice?: TunableChoice) => {
    const x = bf16Values(T * 17 + H, T * H, -3, 2);
    const w = Float32Array.from(uniform(E * 5 + H, E * H, -0.1, 0.1));
    const args = { tensors: { x: bf16Bits(x), w, logits: new Float32Array(T * E).fill(NaN) }, scalars: { T, H, E } };
    const label = `router_logits T=${T} E=${E} H=${H}${choice ? ` ${JSON.stringify(choice)}` : ''}`;
    const out = (await runKernel(backend, 'router_logits', args, choice)).logits as Float32Array;
    const ref = linearRef(x, w, T, H, E);
    const WG = choice?.WG ?? defaultOf('router_logits', 'WG');
    assertWithin(out, ref.y, ref.absSum.map((s) => linearErrorBound(s, H, WG)), label);
    return out;
  };
  for (const [T, E, H] of [[1, 1, 7], [3, 8, 256], [37, 256, 4096], [5, 37, 300], [1, 256, 4096]]) {
    if (backend === 'interp' && T * E * H > 1e7) continue;
    t(`router_logits T=${T} E=${E} H=${H}`, () => logits(T, E, H).then(() => undefined));
  }
  t('router_logits is deterministic: two runs, identical bits', async () => {
    const [first, second] = [await logits(3, 37, 1000), await logits(3, 37, 1000)];
    assertSame(first, second, 'router_logits rerun');
  });

  t('non-default tunables give the same results', async () => {
    await embed(300, 257, rowIndices(5, 37, 300), { WG: 64 });
    await gather(37, 300, rowIndices(6, 37, 37), { WG: 128 });
    await concat(3, 257, { WG: 64 });
    await residual(4097, { WG: 64 });
    await addNorm(3, 301, { WG: 64 });
    await addNorm(3, 301, { WG: 256 });
    for (const choice of [{ EG: 8, WG: 128 }, { EG: 16, WG: 64 }, { EG: 2, WG: 256 }, { EG: 16, WG: 256 }]) await logits(3, 37, 300, choice);
  });

  /**
   * Grids are capped at 65535 workgroups and workgroups stride over the rest: 65537 rows.
   * Not on the interpreter (the same IR, minutes there); the kernels with barriers only on
   * cuda-emu (about 20 s each on SwiftShader). residual_add's stride needs N > 65535 * WG,
   * 16M elements at least: not run here.
   */
  if (backend !== 'interp') {
    t(`more than 65535 rows: workgroups stride (T = R = ${BIG_GRID})`, async () => {
      await embed(5, 3, rowIndices(7, BIG_GRID, 5), { WG: 64 });
      await gather(9, 2, rowIndices(8, BIG_GRID, 9), { WG: 64 });
      await concat(BIG_GRID, 2, { WG: 64 });
      if (backend === 'cuda-emu') {
        await addNorm(BIG_GRID, 3, { WG: 64 });
        await logits(BIG_GRID, 3, 5, { EG: 4, WG: 64 });
      }
    });
  }
  t.run();
}
