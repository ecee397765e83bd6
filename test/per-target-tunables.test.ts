import { test } from 'uvu';
import * as assert from 'uvu/assert';
import path from 'node:path';
import { lowerText } from '../compiler/frontend/index.js';
import { REPO_ROOT } from '../compiler/frontend/source.js';
import type { Kernel } from '../compiler/ir/nodes.js';
import { generatedFiles } from '../compiler/compile.js';
import { lowerForTarget } from '../compiler/passes/pipeline.js';
import { candidates } from '../compiler/autotune/space.js';
import { printKernel } from '../compiler/ir/printer.js';
import { irHash } from '../compiler/ir/hash.js';
import { interpret } from '../compiler/interpret/interpret.js';
import { COMPILER_VERSION } from '../compiler/version.js';
import type { TuningFile } from '../compiler/tuning/dbFile.js';
import type { ManifestKernel } from '../compiler/codegen/manifest.js';

/**
 * Per-target tunables (`BM: { webgpu: [...], cuda: [...] }`): each target compiles its own
 * default, lists its own candidates in its manifest and tuning space, applies only tuned
 * winners among them, and the frontend rejects malformed lists and broken defaults.
 */
const FILE = path.join(REPO_ROOT, 'test/fixtures/per-target-tunables.ts');
const DSL = `import { kernel, cdiv, f32, localIndex, shared, barrier, workgroupId, type i32, type Out, type Tensor } from '../../compiler/dsl/index.js';`;

/** Block sums through shared memory: the block (BM) is the workgroup, so each target's tiling shows in its output. */
const blockSum = (tunables: string, constraints = '[c.BM % 16 === 0]') => `${DSL}
export const block_sum = kernel(
  {
    doc: 'y[b] = sum of x[b*BM .. b*BM+BM), one workgroup per block',
    tunables: ${tunables},
    constraints: (c) => ${constraints},
    workgroup: (c) => [c.BM],
    grid: (c) => [cdiv(c.N, c.BM)],
  },
  (x: Tensor<f32, ['N']>, y: Out<f32, ['cdiv(N, 16)']>, c: { N: i32; BM: i32; PAD: i32 }) => {
    const s = shared(f32, c.BM * c.PAD);
    const i = workgroupId.x * c.BM + localIndex;
    s[localIndex * c.PAD] = i < c.N ? x[i] : 0.0;
    barrier();
    for (let h = c.BM / 2; h > 0; h = h / 2) {
      if (localIndex < h) s[localIndex * c.PAD] = s[localIndex * c.PAD] + s[(localIndex + h) * c.PAD];
      barrier();
    }
    if (localIndex === 0) y[workgroupId.x] = s[0];
  },
);
`;
const TUNABLES = '{ BM: { webgpu: [32, 16, 512], cuda: [128, 64, 2048] }, PAD: [1, 2] }';
const lower = (src: string): Kernel => lowerText(FILE, src)[0];
const k = lower(blockSum(TUNABLES));

const manifests = (files: Map<string, string>) => ({
  wgsl: JSON.parse(files.get('wgsl/manifest.json')!).kernels as Record<string, ManifestKernel>,
  cuda: JSON.parse(files.get('cuda/manifest.json')!).kernels as Record<string, ManifestKernel>,
});

test('each target emits its own default and lists its own candidates', () => {
  const files = generatedFiles([k], ['wgsl', 'cuda']);
  const m = manifests(files);
  assert.equal(m.wgsl.block_sum.tunables, { BM: 32, PAD: 1 });
  assert.equal(m.cuda.block_sum.tunables, { BM: 128, PAD: 1 });
  assert.equal(m.wgsl.block_sum.tunableSpace, { BM: [32, 16, 512], PAD: [1, 2] });
  assert.equal(m.cuda.block_sum.tunableSpace, { BM: [128, 64, 2048], PAD: [1, 2] });
  assert.equal(m.wgsl.block_sum.workgroupSize, [32, 1, 1]);
  assert.equal(m.cuda.block_sum.workgroupSize, [128, 1, 1]);
  assert.is(m.wgsl.block_sum.sharedBytes, 32 * 4);
  assert.is(m.cuda.block_sum.sharedBytes, 128 * 4);
  assert.match(files.get('wgsl/block_sum.wgsl')!, /kernel block_sum; BM=32, PAD=1\)/);
  assert.match(files.get('wgsl/block_sum.wgsl')!, /@workgroup_size\(32/);
  assert.match(files.get('cuda/block_sum.cu')!, /kernel block_sum; BM=128, PAD=1\)/);
  assert.is(m.wgsl.block_sum.irHash, m.cuda.block_sum.irHash, 'one IR, one tuning key');
  assert.match(printKernel(k), /tunable BM in wgsl \{32, 16, 512\} cuda \{128, 64, 2048\}\n {2}tunable PAD in \{1, 2\}/);
});

test('the interpreter runs WebGPU\'s default; both targets\' defaults sum the blocks right', () => {
  const N = 300;
  const x = Float32Array.from({ length: N }, (_, i) => ((i * 37) % 11) - 5);
  // Exact in f32: small integers. Each lowering sums blocks of its own BM.
  const want = (bm: number) => Array.from({ length: Math.ceil(N / bm) }, (_, b) => x.slice(b * bm, b * bm + bm).reduce((a, v) => a + v, 0));
  for (const [target, bm] of [['interp', 32], ['cuda', 128]] as const) {
    const lowered = lowerForTarget(k, target);
    assert.is(lowered.consts.BM, bm, target);
    const y = new Float32Array(Math.ceil(N / 16)).fill(NaN);
    interpret(lowered, { tensors: { x, y }, scalars: { N } });
    assert.equal(Array.from(y.slice(0, Math.ceil(N / bm))), want(bm), `${target} BM=${bm}`);
  }
});

test('the tuning space is each target\'s, pruned by that target\'s limits', () => {
  const summary = (target: 'wgsl' | 'cuda') => candidates(k, target).map((c) => `${c.choice.BM},${c.choice.PAD}${c.illegal ? ' illegal' : ''}`);
  assert.equal(summary('wgsl'), ['32,1', '32,2', '16,1', '16,2', '512,1 illegal', '512,2 illegal']);
  assert.equal(summary('cuda'), ['128,1', '128,2', '64,1', '64,2', '2048,1 illegal', '2048,2 illegal']);
  assert.match(candidates(k, 'wgsl')[4].illegal!, /^wgsl: workgroup size x = 512 exceeds 256 \(tunables BM=512, PAD=1\)$/);
  assert.match(candidates(k, 'cuda')[4].illegal!, /^cuda: workgroup size x = 2048 exceeds 1024 \(tunables BM=2048, PAD=1\)$/);
});

test('a tuned winner applies on its target only, and only among that target\'s candidates', () => {
  const entry = (best: string, N: number) => ({ kernel: 'block_sum', irHash: irHash(k), compiler: COMPILER_VERSION, dtypes: 'f32', bucket: { N }, configs: { [best]: { ms: 1, at: '' } }, best });
  const db: TuningFile = {
    device: { fingerprint: 'cuda-test-device', description: 'test' },
    entries: { a: entry('BM=64,PAD=1', 1024), b: entry('BM=16,PAD=1', 2048), c: entry('BM=128,PAD=1', 4096) },
  };
  const m = manifests(generatedFiles([k], ['wgsl', 'cuda'], 'sm_80', [db]));
  // BM=16 is WebGPU's candidate, stale here; BM=128 is CUDA's default: neither is a variant.
  assert.equal(m.cuda.block_sum.variants?.map((v) => [v.kernel, v.tunables, v.buckets]), [['block_sum_tuned_BM64_PAD1', { BM: 64, PAD: 1 }, [{ N: 1024 }]]]);
  assert.is(m.cuda.block_sum_tuned_BM64_PAD1.workgroupSize[0], 64);
  assert.is(m.wgsl.block_sum.variants, undefined, 'a cuda database never tunes the WGSL');
});

/** The first error of compiling `src`, as rendered. */
function errorOf(src: string): string {
  try {
    lowerText(FILE, src);
  } catch (e) {
    return (e as Error).message.split('\n').slice(0, 1).join('');
  }
  throw new Error('expected a compile error');
}

test('malformed per-target lists and broken defaults are errors naming kernel, tunable and target', () => {
  const cases: [string, string, RegExp][] = [
    ['unknown target', blockSum('{ BM: { webgpu: [32], metal: [64] }, PAD: [1] }'), /\[kernel block_sum\] tunable 'BM': unknown target 'metal' \(expected one of webgpu, cuda\)/],
    ['missing target', blockSum('{ BM: { webgpu: [32] }, PAD: [1] }'), /\[kernel block_sum\] tunable 'BM' has no candidates for cuda \(got: webgpu\)/],
    ['empty per-target list', blockSum('{ BM: { webgpu: [32], cuda: [] }, PAD: [1] }'), /\[kernel block_sum\] tunable 'BM' has an empty candidate list for cuda: expected at least one integer/],
    ['empty plain list', blockSum('{ BM: { webgpu: [32], cuda: [64] }, PAD: [] }'), /\[kernel block_sum\] tunable 'PAD' has an empty candidate list: expected/],
    ['fractional candidate', blockSum('{ BM: { webgpu: [32], cuda: [64.5] }, PAD: [1] }'), /tunable 'BM' for cuda: candidates must be integer literals, got 64\.5/],
    ['cuda default breaks a constraint', blockSum(TUNABLES, '[c.BM * c.PAD <= 64]'), /\[kernel block_sum\] the cuda defaults BM=128, PAD=1 violate constraint 'c\.BM \* c\.PAD <= 64': 128 <= 64 is false/],
    ['plain default breaks a constraint', blockSum('{ BM: [32], PAD: [3, 1] }', '[c.BM > 0 && c.PAD < 3]'), /\[kernel block_sum\] the defaults BM=32, PAD=3 violate constraint 'c\.BM > 0 && c\.PAD < 3' \(false\)/],
  ];
  for (const [name, src, want] of cases) assert.match(errorOf(src), want, name);
});

test('a CUDA default over the shared memory of sm_80 is refused, saying why', () => {
  const big = lower(blockSum('{ BM: { webgpu: [32], cuda: [1024] }, PAD: [64] }'));
  assert.throws(() => generatedFiles([big], ['cuda']), (e: Error) =>
    /\[kernel block_sum\] cuda: 262144 bytes of workgroup memory exceed 166912, the shared memory per block of sm_80 \(163 KiB opt-in\), the lowest architecture generated CUDA supports \(tunables BM=1024, PAD=64\)/.test(e.message));
  assert.not.throws(() => generatedFiles([big], ['wgsl']));
});

test.run();
