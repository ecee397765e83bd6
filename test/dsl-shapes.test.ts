import { suite, test } from 'uvu';
import * as assert from 'uvu/assert';
import path from 'node:path';
import { lowerFile, lowerText } from '../compiler/frontend/index.js';
import { PACKAGE_ROOT } from '../compiler/common/package-root.js';
import { CompileErrors } from '../compiler/common/errors.js';
import type { Kernel } from '../compiler/ir/nodes.js';
import { compileKernel } from '../compiler/compile.js';
import { interpret } from '../compiler/interpret/interpret.js';
import { specialise } from '../compiler/passes/specialise.js';
import { BACKENDS, runFresh } from './harness/backends.js';
import { prng } from './harness/prng.js';

/**
 * The multi-dimensional DSL forms (test/fixtures/kernels/shapes.ts) on every backend:
 * named and literal dimensions, shape formulas checked at launch, views passed to helpers,
 * helpers with object parameters that declare their own workspace. References are
 * float64 loops over the same row-major layout; tolerances are per case.
 */
const kernels = new Map<string, Kernel>(lowerFile(path.join(PACKAGE_ROOT, 'test/fixtures/kernels/shapes.ts')).map((k) => [k.name, k]));
const k = (name: string) => kernels.get(name)!;
const random = (n: number, seed: number) => {
  const r = prng(seed);
  return Float32Array.from({ length: n }, () => r() * 4 - 2);
};
/** f32 results against a float64 reference: CUDA may contract a*b+c into one fma, so 2 ulp-ish relative. */
function close(got: Float32Array, want: readonly number[], what: string): void {
  assert.is(got.length, want.length, `${what}: length`);
  want.forEach((w, i) => {
    if (!(Math.abs(got[i] - w) <= 1e-6 * Math.max(1, Math.abs(w)))) assert.unreachable(`${what}[${i}]: got ${got[i]}, want ${w}`);
  });
}

const T = 3, H = 5, K = 10, B = 4, G = 3;

for (const backend of BACKENDS) {
  const t = suite(`multi-dimensional kernels on ${backend}`);

  t('heads: q[t][h][d] through views and a helper taking a [3] row', async () => {
    const q = random(T * H * 3, 1), bias = random(H, 2);
    const out = await runFresh(backend, k('heads'), { tensors: { q, bias, out: new Float32Array(T * H * 3) }, scalars: { T, H } });
    const want: number[] = [];
    for (let ti = 0; ti < T; ti++) for (let h = 0; h < H; h++) for (let d = 0; d < 3; d++) want.push(q[(ti * H + h) * 3 + d] * (h + 1) + bias[h]);
    close(out.out as Float32Array, want, 'out');
  });

  t("blocks: 'cdiv(K, 4)' scale columns and 'B + 1' offsets", async () => {
    const x = random(T * K, 3), scale = random(T * Math.ceil(K / 4), 4);
    const cu = Int32Array.from([0, 3, 3, 10, 17]);
    const out = await runFresh(backend, k('blocks'), { tensors: { x, scale, cu, y: new Float32Array(T * K), counts: new Int32Array(B) }, scalars: { T, K, B } });
    const want: number[] = [];
    for (let ti = 0; ti < T; ti++) for (let kk = 0; kk < K; kk++) want.push(x[ti * K + kk] * scale[ti * Math.ceil(K / 4) + Math.floor(kk / 4)]);
    close(out.y as Float32Array, want, 'y');
    assert.equal(Array.from(out.counts), [3, 0, 7, 7]);
  });

  t('workspace: a helper declares shared[R][W] and sums[R], another takes it as a named parameter', async () => {
    const x = random(G * 4 * 5, 5);
    const out = await runFresh(backend, k('workspace'), { tensors: { x, y: new Float32Array(G * 20) }, scalars: { G } });
    const want: number[] = [];
    for (let g = 0; g < G; g++) {
      const rows = [0, 1, 2, 3].map((r) => x.slice((g * 4 + r) * 5, (g * 4 + r + 1) * 5));
      // The kernel sums each row in order, then the row sums in order: the same f32 steps.
      const sums = rows.map((row) => row.reduce((a, v) => Math.fround(a + v), 0));
      const mean = Math.fround(sums.reduce((a, v) => Math.fround(a + v), 0) / 20);
      for (const row of rows) for (const v of row) want.push(v - mean);
    }
    close(out.y as Float32Array, want, 'y');
  });

  t.run();
}

const specialised = (name: string) => specialise(k(name));

test('a literal or formula dimension is part of the launch contract', () => {
  const m = compileKernel(k('blocks'), 'wgsl').manifest;
  assert.equal(m.bindings.map((b) => b.shape), [['T', 'K'], ['T', 'cdiv(K, 4)'], ['(B + 1)'], ['T', 'K'], ['B']]);
  assert.equal(m.scalars.map((s) => s.name), ['T', 'K', 'B']);
  assert.equal(compileKernel(k('heads'), 'cuda').manifest.bindings[0].shape, ['T', 'H', '3']);
  /** The interpreter prefixes the kernel's location; the rest is the launch contract's message. */
  const refuses = (kernel: string, args: Parameters<typeof interpret>[1], message: string) => {
    try {
      interpret(specialised(kernel), args);
    } catch (e) {
      return assert.ok((e as Error).message.endsWith(message), (e as Error).message);
    }
    assert.unreachable('launched');
  };
  const heads = { q: new Float32Array(T * H * 4), bias: new Float32Array(H), out: new Float32Array(T * H * 3) };
  refuses('heads', { tensors: heads, scalars: { T, H } }, "[kernel heads] argument 'q': expected shape f32[T=3, H=5, 3] = 45 elements, got 60");
  refuses('heads', { tensors: { ...heads, q: new Float32Array(45) }, scalars: { T, H, D: 4 } }, "[kernel heads] argument 'D': unknown scalar (expected: T, H)");
  const blocks = { x: new Float32Array(T * K), scale: new Float32Array(T * 2), cu: new Int32Array(B + 1), y: new Float32Array(T * K), counts: new Int32Array(B) };
  refuses('blocks', { tensors: blocks, scalars: { T, K, B } }, "[kernel blocks] argument 'scale': expected shape f32[T=3, cdiv(K, 4)=3] = 9 elements, got 6");
  refuses('blocks', { tensors: { ...blocks, scale: new Float32Array(9), cu: new Int32Array(B) }, scalars: { T, K, B } }, "[kernel blocks] argument 'cu': expected shape i32[(B + 1)=5] = 5 elements, got 4");
});

test('the interpreter checks every index against its own dimension', () => {
  let message = '';
  try {
    interpret(k('overflow'), { tensors: { q: new Float32Array(1 * 2 * 3), out: new Float32Array(1) }, scalars: { T: 1, H: 2 } });
  } catch (e) {
    message = (e as Error).message;
  }
  assert.match(message, /index 3 out of range for dimension 2 \(3\) of 'q'/);
});

const DSL = `import { kernel, f32, localIndex, shared, type Tensor, type Out, type Dim, type i32 } from '../../../compiler/dsl/index.js';`;
const errors = (name: string, source: string): string[] => {
  try {
    lowerText(path.join(PACKAGE_ROOT, `test/fixtures/malformed/${name}.ts`), `${DSL}\n${source}`);
  } catch (e) {
    if (e instanceof CompileErrors) return e.errors.map((x) => x.message);
    throw e;
  }
  assert.unreachable('compiled');
  return [];
};
const one = (body: string, shape = "['T', 'H', 3]") => `
export const bad = kernel({ workgroup: () => [1], grid: () => [1] }, (q: Tensor<f32, ${shape}>, o: Out<f32, ['T']>, c: { T: i32; H: i32; K: i32 }) => {
  ${body}
});`;

test('frontend errors name the view, the dimension or the formula', () => {
  const first = (name: string, src: string) => errors(name, src)[0];
  assert.match(first('view-as-value', one('o[0] = q[0][1];')), "'q[0][1]' is a view of [3], not an element of 'q'");
  assert.match(first('bad-formula', one('o[0] = q[0];', "['cdiv(K 4)']")), "tensor 'q': dimension 'cdiv(K 4)': expected ','");
  assert.match(first('zero-dim', one('o[0] = q[0];', "['T', 0]")), "tensor 'q': a literal dimension must be a positive integer, got 0");
  assert.match(first('flat-member', one('o[0] = q.rows[0];')), "'q' has no member 'rows'");
  const helper = `function f(r: Tensor<f32, [Dim]>): f32 { return r[0]; }\n${one('o[0] = f(q[0]);')}`;
  assert.match(errors('rank', helper).join('\n'), "argument 'r' of f must have 1 dimension, 'q[0]' has 2 ([H, 3])");
  const tunable = `export const bad = kernel({ tunables: { BK: [4] }, workgroup: () => [1], grid: () => [1] }, (q: Tensor<f32, ['BK']>, c: { BK: i32 }) => {});`;
  assert.match(first('tunable-dim', tunable), "tensor 'q': dimension uses tunable 'BK'");
});

test.run();
