import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../compiler/frontend/source.js';
import { lowerFile, lowerText } from '../compiler/frontend/index.js';
import { compileKernel } from '../compiler/compile.js';
import { lowerForTarget } from '../compiler/passes/pipeline.js';
import { assignSharedOffsets } from '../compiler/passes/sharedReuse.js';
import { emitCuda } from '../compiler/codegen/cuda/emitCuda.js';
import { CAPS } from '../compiler/common/target.js';
import { disjointInTime, sharedLiveRanges } from '../compiler/passes/sharedLiveness.js';
import { poisonAfter } from '../compiler/interpret/sharedPoison.js';
import type { Expr, Stmt } from '../compiler/ir/nodes.js';
import type { LoweredKernel } from '../compiler/ir/lowered.js';
import { CudaHostRunner, EMU_CXX_FLAGS } from '../backends/cuda/hostRunner.js';
import { runFresh, type Backend } from './harness/backends.js';
import { NVCC } from './harness/cuda-toolkit.js';
import { parseResources } from '../compiler/report/tools.js';

/**
 * Shared memory as one arena on CUDA (passes/sharedLiveness.ts, passes/sharedReuse.ts,
 * codegen/cuda/sharedArena.ts): arrays never live together share bytes, so sharedBytes is
 * the peak; past 48 KiB the arena is dynamic shared memory and the launcher opts in; a kernel
 * over sm_80's 163 KiB is refused. The fixtures run on every backend against a reference
 * computed here, the emulated CUDA past 48 KiB included.
 */
const run = promisify(execFile);
const FIXTURE = path.join(REPO_ROOT, 'test/fixtures/shared-memory.ts');
const [twoPhase, overlap] = ['smem_two_phase', 'smem_overlap'].map((n) => lowerFile(FIXTURE).find((k) => k.name === n)!);
const cuda = { twoPhase: compileKernel(twoPhase, 'cuda'), overlap: compileKernel(overlap, 'cuda') };
const offsets = (k: LoweredKernel) => Object.fromEntries(k.shared.map((s) => [s.name, s.offset]));

// nvcc takes seconds: started now, awaited by its test.
const out = fs.mkdtempSync(path.join(os.tmpdir(), 'mimo-smem-'));
for (const c of Object.values(cuda)) fs.writeFileSync(path.join(out, c.manifest.file), c.source);
const unit = path.join(out, 'unit.cu');
fs.writeFileSync(unit, Object.values(cuda).map((c) => `#include "${c.manifest.file}"\n`).join(''));
const nvcc = run(NVCC, ['-std=c++17', '-arch=sm_80', '--Werror', 'all-warnings', '-Xptxas', '-v', `-I${path.join(REPO_ROOT, 'backends/cuda/include')}`, '-c', unit, '-o', `${unit}.o`], { maxBuffer: 1 << 24 }).then(
  (r) => r.stdout + r.stderr,
  (e: { stderr?: string }) => `nvcc failed: ${e.stderr ?? e}`,
);

test('two phases apart by a barrier share bytes on CUDA: sharedBytes is the peak, a static arena', () => {
  const c = cuda.twoPhase;
  assert.equal(offsets(c.lowered), { a: 0, b: 0 });
  assert.is(c.manifest.sharedBytes, 8192 * 4, 'each array alone is 32 KiB; together 64 KiB');
  assert.is(c.manifest.dynamicSharedBytes, 0);
  assert.match(c.source, '__shared__ __align__(16) unsigned char mimo_smem[32768];');
  assert.match(c.source, 'float* const a = reinterpret_cast<float*>(mimo_smem + 0);');
  assert.match(c.source, 'int* const b = reinterpret_cast<int*>(mimo_smem + 0);');
  assert.not.match(c.source, 'cudaFuncSetAttribute');
  // WGSL keeps a var<workgroup> per array (no aliasing of different types): its limits see the sum.
  const w = compileKernel(twoPhase, 'wgsl');
  assert.is(w.manifest.sharedBytes, 2 * 1024 * 4);
  assert.is(w.manifest.dynamicSharedBytes, undefined);
  assert.is((w.source.match(/var<workgroup>/g) ?? []).length, 2);
});

test('arrays live together do not share bytes; past 48 KiB the arena is dynamic and the launcher opts in', () => {
  const c = cuda.overlap;
  assert.equal(offsets(c.lowered), { a: 0, b: 32768 });
  assert.is(c.manifest.sharedBytes, 65536);
  assert.is(c.manifest.dynamicSharedBytes, 65536);
  assert.match(c.source, '  MIMO_EXTERN_SHARED(unsigned char, mimo_smem);');
  assert.match(c.source, 'mimo_smem_devices.ensure(mimo_smem_overlap_kernel, 65536);');
  assert.match(c.source, /MIMO_LAUNCH\(mimo_smem_overlap_kernel, .*, 65536, stream,/);
});

test('a kernel over sm_80\'s 163 KiB is refused, naming the arch', () => {
  assert.throws(() => lowerForTarget(overlap, 'cuda', { N: 32768 }), (e: Error) =>
    /\[kernel smem_overlap\] cuda: 262144 bytes of workgroup memory exceed 166912, the shared memory per block of sm_80 \(163 KiB opt-in\), the lowest architecture generated CUDA supports \(tunables N=32768\)/.test(e.message));
  // 163 KiB itself is fine: 2 x 20864 x 4 bytes.
  assert.is(lowerForTarget(overlap, 'cuda', { N: 20864 }).facts.sharedBytes, 166912);
});

test('alignment hook: an array that asks for 1024 bytes starts at a multiple; a dynamic arena refuses more than 1024', () => {
  const ask = (k: LoweredKernel, align = 1024): LoweredKernel => assignSharedOffsets({ ...k, shared: k.shared.map((s) => (s.name === 'b' ? { ...s, align } : s)) }, CAPS.cuda);
  const small = ask(lowerForTarget(overlap, 'cuda', { N: 64 }));
  assert.equal(offsets(small), { a: 0, b: 1024 });
  assert.is(small.facts.sharedBytes, 1024 + 256);
  assert.match(emitCuda(small, '//'), '__shared__ __align__(1024) unsigned char mimo_smem[1280];');
  assert.not.throws(() => emitCuda(ask(cuda.overlap.lowered), '//'));
  assert.throws(() => emitCuda(ask(cuda.overlap.lowered, 2048), '//'), /shared array 'b' asks for 2048-byte alignment, but the 65536-byte arena is dynamic shared memory, which MIMO_EXTERN_SHARED aligns to 1024/);
});

/** Independent reference: reversed x, and ids permuted by i -> (5i + 3) mod N, per block of N. */
function reference(T: number, N: number, x: Float32Array, ids: Int32Array) {
  const y1 = new Float32Array(T);
  const y2 = new Int32Array(T);
  for (let b = 0; b < T; b += N) {
    for (let i = 0; i < N; i++) {
      y1[b + i] = x[b + N - 1 - i];
      y2[b + i] = ids[b + ((5 * i + 3) % N)];
    }
  }
  return { y1, y2, y: Float32Array.from(y1, (v, i) => v + y2[i]) };
}

function inputs(T: number) {
  const x = Float32Array.from({ length: T }, (_, i) => ((i * 7919) % 1000) / 8 - 60);
  const ids = Int32Array.from({ length: T }, (_, i) => (i * 104729) % 4093 - 2000);
  return { x, ids };
}

test('both fixtures match the reference on emulated CUDA (64 KiB dynamic), WebGPU and the interpreter', async () => {
  // One emulator build for both kernels.
  const runner = new CudaHostRunner(
    { kernels: { [twoPhase.name]: cuda.twoPhase.manifest, [overlap.name]: cuda.overlap.manifest } },
    { [twoPhase.name]: cuda.twoPhase.source, [overlap.name]: cuda.overlap.source },
  );
  const backends: [Backend, number][] = [['cuda-emu', 8192], ['webgpu', 1024], ['interp', 1024]];
  for (const [backend, N] of backends) {
    const T = 2 * N;
    const { x, ids } = inputs(T);
    const want = reference(T, N, x, ids);
    const args = { tensors: { x, ids, y1: new Float32Array(T).fill(NaN), y2: new Int32Array(T).fill(-1), y: new Float32Array(T).fill(NaN) }, scalars: { T } };
    const [a, b] = backend === 'cuda-emu'
      ? [runner.run(twoPhase.name, { tensors: { x, ids, y1: args.tensors.y1, y2: args.tensors.y2 }, scalars: { T } }), runner.run(overlap.name, { tensors: { x, ids, y: args.tensors.y }, scalars: { T } })]
      : [await runFresh(backend, twoPhase, { tensors: { x, ids, y1: args.tensors.y1, y2: args.tensors.y2 }, scalars: { T } }), await runFresh(backend, overlap, { tensors: { x, ids, y: args.tensors.y }, scalars: { T } })];
    assert.equal(Array.from(a.y1 as Float32Array), Array.from(want.y1), `${backend}: y1`);
    assert.equal(Array.from(a.y2 as Int32Array), Array.from(want.y2), `${backend}: y2`);
    assert.equal(Array.from(b.y as Float32Array), Array.from(want.y), `${backend}: y`);
  }
});

test('nvcc compiles both for sm_80 with --Werror; ptxas sees the static arena only', async () => {
  const log = await nvcc;
  assert.not.match(log, /nvcc failed/, log);
  const smem = (symbol: string) => parseResources(log).find((r) => r.kernel === symbol)?.smem;
  assert.is(smem('mimo_smem_two_phase_kernel'), 32768);
  assert.is(smem('mimo_smem_overlap_kernel'), 0, 'dynamic shared memory is not in the static count');
});

test('the emulator refuses a launch past 48 KiB of dynamic shared memory without the opt-in, as a GPU does', async () => {
  const src = path.join(out, 'optin.cu');
  fs.writeFileSync(src, `#include "mimo_prelude.cuh"
#include <cstdio>
__global__ void k(int* out) { MIMO_EXTERN_SHARED(int, s); s[16383] = 7; __syncthreads(); *out = s[16383]; }
int main() {
  int out = 0;
  MIMO_LAUNCH(k, 1, 32, 65536, 0, &out);
  const int refused = cudaGetLastError() == cudaErrorInvalidValue && out == 0;
  const int over = cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, 232449) == cudaErrorInvalidValue;
  static mimo_smem_opt_in opt;
  const int opted = opt.ensure(k, 65536) == cudaSuccess;
  MIMO_LAUNCH(k, 1, 32, 65536, 0, &out);
  std::printf("%d %d %d %d %d\\n", refused, over, opted, cudaGetLastError() == cudaSuccess, out);
  return 0;
}
`);
  await run('g++', [...EMU_CXX_FLAGS, src, '-o', `${src}.exe`]);
  const r = await run(`${src}.exe`, []).catch((e: { stdout: string; stderr: string }) => e);
  assert.is(r.stdout.trim(), '1 1 1 1 7');
  assert.match(r.stderr, "mimo_emu: kernel 'k' launched with 65536 bytes of dynamic shared memory but opted in to 0");
});

// Liveness on small kernels: what may share bytes and what may not.
const DSL = `import { kernel, barrier, f32, localIndex, shared, type i32, type Out, type Tensor } from '../../compiler/dsl/index.js';`;
const variant = (name: string, body: string) => `
export const ${name} = kernel({ doc: '${name}', workgroup: () => [64], grid: () => [1] },
  (x: Tensor<f32, [64]>, y: Out<f32, [64]>, c: { R: i32 }) => {
    const a = shared(f32, 64);
    const b = shared(f32, 64);
    ${body}
  });`;
const cases: Record<string, [string, boolean]> = {
  // Phase 1 reads a, then (no barrier) phase 2 writes b: a slow thread could still read a.
  no_barrier: ['a[localIndex] = x[localIndex]; barrier(); y[localIndex] = a[63 - localIndex]; b[localIndex] = y[localIndex]; barrier(); y[localIndex] = b[63 - localIndex];', false],
  apart: ['a[localIndex] = x[localIndex]; barrier(); y[localIndex] = a[63 - localIndex]; barrier(); b[localIndex] = y[localIndex]; barrier(); y[localIndex] = b[63 - localIndex];', true],
  // Each round uses both: the loop makes them live together.
  same_loop: ['for (let r = 0; r < c.R; r++) { a[localIndex] = x[localIndex]; barrier(); y[localIndex] = a[63 - localIndex]; barrier(); b[localIndex] = y[localIndex]; barrier(); y[localIndex] = b[63 - localIndex]; barrier(); }', false],
  // A GEMM's K loop: a only in the loop, which ends with a barrier; b after it.
  loop_tail_barrier: ['for (let r = 0; r < c.R; r++) { a[localIndex] = x[localIndex]; barrier(); y[localIndex] = a[63 - localIndex]; barrier(); } b[localIndex] = y[localIndex]; barrier(); y[localIndex] = b[63 - localIndex];', true],
  // The barrier may not run (c.R == 0): it does not separate anything outside its branch.
  barrier_in_branch: ['a[localIndex] = x[localIndex]; barrier(); y[localIndex] = a[63 - localIndex]; if (c.R > 0) { barrier(); } b[localIndex] = y[localIndex]; barrier(); y[localIndex] = b[63 - localIndex];', false],
};
const liveness = lowerText(path.join(REPO_ROOT, 'test/fixtures/shared-liveness.ts'), [DSL, ...Object.entries(cases).map(([n, [body]]) => variant(n, body))].join('\n'));

test('liveness: a barrier between the uses (also a loop\'s last one) separates them; a loop or a missing barrier does not', () => {
  for (const k of liveness) {
    const l = lowerForTarget(k, 'cuda');
    const shares = l.shared[0].offset === l.shared[1].offset;
    assert.is(shares, cases[k.name][1], k.name);
    assert.is(l.facts.sharedBytes, shares ? 256 : 512, k.name);
  }
});

test('liveness: cp.async copies keep their destination live until a wait_group 0 lands them', () => {
  const n = (v: number): Expr => ({ k: 'const', type: 'i32', value: v });
  const copy = (dst: string): Stmt => ({ k: 'asyncCopy', dst, dstIndex: n(0), src: 'x', srcIndex: n(0), srcBytes: n(16) });
  const read = (buf: string): Stmt => ({ k: 'let', name: `v_${buf}`, type: 'f32', mutable: false, init: { k: 'load', type: 'f32', space: 'shared', buf, index: n(0) } });
  const kernel = (body: Stmt[]) => sharedLiveRanges({ shared: [{ name: 'a', dtype: 'f32', size: 4 }, { name: 'b', dtype: 'f32', size: 4 }], body });
  const apart = (body: Stmt[]) => {
    const r = kernel(body);
    return disjointInTime(r.get('a')!, r.get('b')!);
  };
  const bar: Stmt = { k: 'barrier' };
  const wait0: Stmt = { k: 'asyncWait', pending: 0 };
  assert.ok(apart([copy('a'), { k: 'asyncCommit' }, wait0, bar, read('a'), bar, read('b')]), 'landed, read, barrier, then b');
  // A copy into a nobody waits for may land any time: a lives to the end.
  assert.not.ok(apart([copy('a'), { k: 'asyncCommit' }, bar, read('b')]), 'never waited for');
  assert.not.ok(apart([copy('a'), { k: 'asyncCommit' }, { k: 'asyncWait', pending: 1 }, bar, read('b')]), 'a wait that leaves one group pending');
  assert.ok(apart([copy('a'), { k: 'asyncCommit' }, { k: 'asyncWait', pending: 1 }, wait0, bar, read('b')]), 'a later wait_group 0');
});

test('the interpreter poisons an array at the first barrier past its live range', () => {
  const l = lowerForTarget(twoPhase, 'interp');
  const barriers = l.body.filter((s) => s.k === 'barrier');
  assert.is(barriers.length, 3);
  // After the barrier that follows phase 1's read of a, only b is used.
  assert.equal(barriers.map((s) => poisonAfter(l, s)), [undefined, [0], undefined]);
});

test.after(() => fs.rmSync(out, { recursive: true, force: true }));

test.run();
