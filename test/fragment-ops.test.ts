import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import path from 'node:path';
import { lowerFile, lowerText } from '../compiler/frontend/index.js';
import { CompileErrors } from '../compiler/common/errors.js';
import { REPO_ROOT } from '../compiler/frontend/source.js';
import { packArray } from '../compiler/ir/numerics.js';
import type { Kernel } from '../compiler/ir/nodes.js';
import { lowerForTarget } from '../compiler/passes/pipeline.js';
import { interpret } from '../compiler/interpret/interpret.js';
import { compileKernel } from '../compiler/compile.js';
import { CudaHostRunner } from '../backends/cuda/hostRunner.js';
import type { ManifestKernel } from '../compiler/codegen/manifest.js';
import type { HostArray, LaunchArgs } from '../compiler/launch/args.js';
import { BACKENDS, runFresh, type Backend } from './harness/backends.js';
import { uniform } from './harness/prng.js';

/**
 * The flash-attention fragment ops (test/fixtures/kernels/flash_tile.ts) on every backend,
 * against float64: CUDA takes the tensor-core layout for frag_units_bf16 and flash_tile and
 * the portable one for frag_units_f32; WebGPU and the interpreter take the portable one, and
 * the CUDA-lowered IR also runs on the interpreter (mmaSync and ldmatrix as warp collectives).
 * Coordinates are checked against mma's own placement (A·I minus A read by coordinates is
 * exactly 0), row max/sum with NaN and infinities, the bf16 conversion against an RNE
 * written here, mmaFragment through ldmatrix.trans and packed loads, and one FA2 pass.
 */
const kernels = new Map<string, Kernel>(lowerFile(path.join(REPO_ROOT, 'test/fixtures/kernels/flash_tile.ts')).map((k) => [k.name, k]));

/** Round to nearest-even bf16, from the f32 bits (independent of compiler/ir/numerics.ts). */
function bf16(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer);
  u[0] = ((u[0] + 0x7fff + ((u[0] >>> 16) & 1)) >>> 0) & 0xffff0000;
  return f[0];
}
const bf16s = (xs: Float64Array): Float64Array => xs.map(bf16);
const EYE = Float64Array.from({ length: 256 }, (_, i) => (i % 17 === 0 ? 1 : 0));
/** PERM[k][n] = 1 where n = (5k + 3) mod 16: output column n takes P's column k, and PERMᵀ differs. */
const permOf = (k: number) => (5 * k + 3) % 16;
const PERM = Float64Array.from({ length: 256 }, (_, i) => (permOf(i >> 4) === (i & 15) ? 1 : 0));

/** xs: random rows, and rows with a NaN (3), all -inf (5), some -inf (7), +inf (9), +inf and -inf (11). */
function specialRows(): Float64Array {
  const xs = uniform(5, 256, -4, 4);
  xs[3 * 16 + 6] = NaN;
  for (let c = 0; c < 16; c++) xs[5 * 16 + c] = -Infinity;
  for (let c = 0; c < 16; c += 2) xs[7 * 16 + c] = -Infinity;
  xs[9 * 16 + 13] = Infinity;
  xs[11 * 16 + 2] = Infinity;
  xs[11 * 16 + 9] = -Infinity;
  return xs;
}

/** f32 values with bf16 ties (to even, both ways) and near-ties where the layouts place them differently. */
function roundingCases(): Float64Array {
  const ys = uniform(6, 256, -3, 3).map((y) => Math.fround(y));
  const cases = [1 + 2 ** -8, 1 + 3 * 2 ** -8, -(1 + 2 ** -8), 1 + 2 ** -8 + 2 ** -20, 3 * (1 + 2 ** -8), 0.5 * (1 + 3 * 2 ** -8), -(1 + 2 ** -8 - 2 ** -20)];
  const at = [0, 1, 17, 34, 99, 200, 255];
  at.forEach((i, n) => (ys[i] = cases[n]));
  return ys;
}

function checkUnits(out: Float32Array, xs: Float64Array): void {
  for (let i = 0; i < 256; i++) assert.is(out[i], 0, `A·I - A at [${i >> 4}][${i & 15}]: ${out[i]} (coordinates disagree with mma's placement)`);
  for (let r = 0; r < 16; r++) {
    const row = Array.from(xs.subarray(r * 16, r * 16 + 16));
    const max = row.some(Number.isNaN) ? NaN : Math.max(...row);
    const sum = row.reduce((p, x) => p + x, 0);
    const mag = row.reduce((p, x) => p + Math.abs(x), 0);
    for (let c = 0; c < 16; c++) {
      const at = `[${r}][${c}]`;
      assert.ok(Object.is(out[256 + r * 16 + c], Math.fround(max)), `row max ${at}: ${out[256 + r * 16 + c]} vs ${max}`);
      const s = out[512 + r * 16 + c];
      assert.ok(Number.isFinite(sum) ? Math.abs(s - sum) <= 16 * 2 ** -24 * mag : Object.is(s, sum), `row sum ${at}: ${s} vs float64 ${sum}`);
      assert.is(out[768 + r * 16 + c], 1.5 + r, `rowMap ${at}`);
    }
  }
}

function checkProduct(label: string, got: Float32Array, base: number, p: Float64Array, v: Float64Array): void {
  for (let r = 0; r < 16; r++) {
    for (let n = 0; n < 16; n++) {
      let dot = 0, mag = 0;
      for (let k = 0; k < 16; k++) {
        dot += p[r * 16 + k] * v[k * 16 + n];
        mag += Math.abs(p[r * 16 + k] * v[k * 16 + n]);
      }
      const g = got[base + r * 16 + n];
      assert.ok(Math.abs(g - dot) <= 16 * 2 ** -24 * mag, `${label} [${r}][${n}]: ${g} vs float64 ${dot}`);
    }
  }
}

/** softmax(mask(q·kᵀ * scale))·v in float64, key j visible to row r where j <= qStart + r; and Σ p|v| / Σ p. */
function flashReference(q: Float64Array, k: Float64Array, v: Float64Array, qStart: number, scale: number, D: number, NK: number) {
  const o = new Float64Array(256), mag = new Float64Array(256);
  for (let r = 0; r < 16; r++) {
    const s = Array.from({ length: NK }, (_, j) => {
      let dot = 0;
      for (let d = 0; d < D; d++) dot += q[r * D + d] * k[j * D + d];
      return j <= qStart + r ? dot * scale : -Infinity;
    });
    const m = Math.max(...s);
    const p = s.map((x) => Math.exp(x - m));
    const l = p.reduce((a, b) => a + b, 0);
    for (let n = 0; n < 16; n++) {
      for (let j = 0; j < NK; j++) {
        o[r * 16 + n] += (p[j] * v[j * 16 + n]) / l;
        mag[r * 16 + n] += (p[j] * Math.abs(v[j * 16 + n])) / l;
      }
    }
  }
  return { o, mag };
}

/** The emulator runs the three kernels from one executable (one g++ run: its headers dominate the build). */
let emu: CudaHostRunner | undefined;
function emuRunner(): CudaHostRunner {
  if (emu) return emu;
  const manifest: Record<string, ManifestKernel> = {};
  const sources: Record<string, string> = {};
  for (const k of kernels.values()) {
    const c = compileKernel(k, 'cuda');
    manifest[k.name] = c.manifest;
    sources[k.name] = c.source;
  }
  emu = new CudaHostRunner({ kernels: manifest }, sources);
  emu.prebuild(Object.keys(manifest));
  return emu;
}

function interpretCuda(k: Kernel, args: LaunchArgs): Record<string, HostArray> {
  const tensors: Record<string, HostArray> = {};
  for (const [n, a] of Object.entries(args.tensors)) tensors[n] = a.slice();
  interpret(lowerForTarget(k, 'cuda'), { tensors, scalars: { ...args.scalars } });
  return tensors;
}

type Run = (k: Kernel, args: LaunchArgs) => Promise<Record<string, HostArray>> | Record<string, HostArray>;
const runners: [string, Run][] = [
  ...BACKENDS.map((b: Backend): [string, Run] => [b, b === 'cuda-emu' ? (k, args) => emuRunner().run(k.name, args) : (k, args) => runFresh(b, k, args)]),
  ['interp (CUDA-lowered IR)', interpretCuda],
];

for (const [backend, runKernel] of runners) {
  const t = suite(`fragment ops on ${backend}`);
  const a = bf16s(uniform(1, 256, -3, 3));
  const xs = specialRows();

  t('frag_units_f32: coordinates, row max/sum (NaN, ±inf), rowMap', async () => {
    const fin = Float32Array.from([...a, ...xs, ...EYE]);
    const out = await runKernel(kernels.get('frag_units_f32')!, { tensors: { fin, out: new Float32Array(1024).fill(NaN) }, scalars: { FN: 768, BN: 0, ON: 1024 } });
    checkUnits(out.out as Float32Array, xs);
  });

  t('frag_units_bf16: coordinates, row ops, toOperand rounding (RNE), mmaFragment (ldmatrix.trans, packed B)', async () => {
    const ys = roundingCases();
    const v = bf16s(uniform(7, 256, -2, 2));
    const out = await runKernel(kernels.get('frag_units_bf16')!, {
      tensors: { bin: packArray('bf16', Float64Array.from([...a, ...EYE, ...v, ...PERM])), fin: Float32Array.from([...a, ...xs, ...ys]), out: new Float32Array(1536).fill(NaN) },
      scalars: { FN: 768, BN: 1024, ON: 1536 },
    });
    const got = out.out as Float32Array;
    checkUnits(got, xs);
    const p = bf16s(ys);
    for (let r = 0; r < 16; r++) {
      for (let k = 0; k < 16; k++) {
        const i = r * 16 + k, g = got[1024 + r * 16 + permOf(k)];
        assert.is(g, p[i], `toOperand(${ys[i]}) at [${r}][${k}] · perm: ${g}, RNE bf16 is ${p[i]}`);
      }
    }
    checkProduct('mmaFragment (V stride 17)', got, 1280, p, v);
  });

  t('flash_tile: one FA2 pass over 3 key tiles (causal mask on the tile edges) matches float64', async () => {
    const D = 32, NK = 48, qStart = 20, scale = 1 / Math.sqrt(D);
    const q = bf16s(uniform(11, 16 * D, -2, 2));
    const k = bf16s(uniform(12, NK * D, -2, 2));
    const v = bf16s(uniform(13, NK * 16, -2, 2));
    const out = await runKernel(kernels.get('flash_tile')!, {
      tensors: { q: packArray('bf16', q), k: packArray('bf16', k), v: packArray('bf16', v), o: new Float32Array(256).fill(NaN) },
      scalars: { QN: 16 * D, KN: NK * D, VN: NK * 16, ON: 256, qStart, keys: NK, scale: Math.fround(scale) },
    });
    const ref = flashReference(q, k, v, qStart, Math.fround(scale), D, NK);
    const got = out.o as Float32Array;
    for (let i = 0; i < 256; i++) {
      // P is rounded to bf16 (2^-9 relative) for P·V, the row sum l is not: as FlashAttention-2.
      const tol = 2 ** -8 * ref.mag[i] + 1e-5;
      assert.ok(Math.abs(got[i] - ref.o[i]) <= tol, `o[${i >> 4}][${i & 15}]: ${got[i]} vs float64 ${ref.o[i]} (tolerance ${tol})`);
    }
  });
  t.run();
}

/** A one-warp kernel using every fragment op; each misuse case edits one spot of it. */
const MISUSE = `import { kernel, barrier, bf16, f32, fragment, fragmentMap, fragmentRowMax, localIndex, mmaFragment, rowMap, rowVector, shared, storeFragment, toOperand, type i32, type Out, type Tensor } from '../../../compiler/dsl/index.js';
export const misuse = kernel({ workgroup: () => [32], grid: () => [1] }, (v: Tensor<bf16, ['N']>, o: Out<f32, ['N']>, c: { N: i32 }) => {
  const Vs = shared(bf16, 256);
  const Fs = shared(f32, 256);
  for (let i = localIndex; i < 256; i += 32) Vs[i] = v[i];
  barrier();
  const s = fragment();
  fragmentMap(s, (x, row, col) => f32(row * 16 + col));
  const m = fragmentRowMax(s);
  const l = rowVector(0);
  rowMap(l, (x, row) => x + m[row]);
  const p = toOperand(s, bf16);
  mmaFragment(s, p, Vs, 0, 16);
  storeFragment(s, Fs, 0, 16);
  barrier();
  for (let i = localIndex; i < 256; i += 32) o[i] = Fs[i];
});`;

function misuseError(from: string, to: string): string {
  if (!MISUSE.includes(from)) throw new Error(`misuse case: '${from}' not in the kernel`);
  try {
    lowerText(path.join(REPO_ROOT, 'test/fixtures/malformed/fragment-misuse.ts'), MISUSE.replace(from, to));
  } catch (e) {
    if (e instanceof CompileErrors) return e.message;
    throw e;
  }
  return assert.unreachable('the misused kernel compiled') as never;
}

const misuse = suite('fragment ops: compile errors for misuse');
misuse('the unedited kernel compiles', () => {
  const [k] = lowerText(path.join(REPO_ROOT, 'test/fixtures/malformed/fragment-misuse.ts'), MISUSE);
  for (const target of ['interp', 'wgsl', 'cuda'] as const) lowerForTarget(k, target);
});
misuse('a row vector indexed by anything but the callback row', () => {
  assert.match(misuseError('x + m[row]', 'x + m[0]'), /\[kernel misuse\].*row vector 'm' is indexed by '0', expected the row parameter/);
  assert.match(misuseError('const l = rowVector(0);', 'const l = rowVector(0);\n  o[0] = m[1];'), /row vector 'm' is indexed by '1'/);
});
misuse('callbacks: expression bodies, at most (x, row, col)', () => {
  assert.match(misuseError('(x, row, col) => f32(row * 16 + col)', '(x, row, col) => { return x; }'), /fragmentMap takes an arrow function with an expression body/);
  assert.match(misuseError('(x, row) => x + m[row]', '(x, row, col) => x'), /rowMap's callback takes 1 to 2 parameters \(x, row\), got 3/);
});
misuse('operands: toOperand dtype, mmaFragment a and b', () => {
  assert.match(misuseError('mmaFragment(s, p, Vs, 0, 16)', 'mmaFragment(s, s, Vs, 0, 16)'), /mmaFragment a 's' is not a register operand/);
  assert.match(misuseError('mmaFragment(s, p, Vs, 0, 16)', 'mmaFragment(s, p, Fs, 0, 16)'), /mmaFragment b 'Fs' is f32, expected bf16/);
  assert.match(misuseError('fragmentRowMax(s)', 'fragmentRowMax(l)'), /fragmentRowMax: 'l' is not a fragment/);
});
misuse.run();
