import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { compileKernel } from '../compiler/compile.js';
import { interpret } from '../compiler/interpret/interpret.js';
import { packArray, unpackArray } from '../compiler/ir/numerics.js';
import type { HostArray } from '../compiler/launch/args.js';
import { lowerForTarget } from '../compiler/passes/pipeline.js';
import type { TunableChoice } from '../compiler/passes/specialise.js';
import { opKernel, runFresh } from './harness/backends.js';
import { bf16 } from './harness/bf16.js';
import { assertClose, type Tolerance } from './harness/close.js';
import { activations, checkQuantAct } from './harness/fp8-reference.js';
import { uniform } from './harness/prng.js';
import { rmsnormRef, softmaxRef } from './harness/reference.js';
import { routerInputs, routerRef } from './harness/router-reference.js';

/**
 * What the CUDA emitter and ops/common/reduce.ts promise beyond right answers: a 1-D
 * workgroup indexes with threadIdx.x under a stated bound (so nvcc can range-check strided
 * loops), and workgroup reductions are subgroup collectives, correct at every subgroup size
 * a device may pick (WebGPU: 4..64; SwiftShader's is 4, CUDA's 32), checked on the
 * interpreter, whose subgroup size is a launch option, against float64 references with the
 * op tests' tolerances.
 */
const cuda = (name: string, choice: TunableChoice = {}) => compileKernel(opKernel(name), 'cuda', choice).source;
const count = (src: string, s: string) => src.split(s).length - 1;

for (const [name, wg] of [['rmsnorm', 128], ['softmax', 128], ['quant_act_e4m3', 128], ['moe_router', 256]] as const) {
  test(`${name} (1-D workgroup of ${wg}): threadIdx.x with its bound, no flattened index`, () => {
    const src = cuda(name);
    assert.ok(src.includes(`__builtin_assume(threadIdx.x < ${wg}u);`), `${name}.cu states the bound threadIdx.x < ${wg}`);
    for (const s of ['blockDim', 'threadIdx.y', 'threadIdx.z']) assert.not.ok(src.includes(s), `${name}.cu uses ${s}`);
  });
}

test('minBlocksPerSM reaches __launch_bounds__; kernels without it leave the register choice to ptxas', () => {
  assert.ok(cuda('global_decode_partial').includes('__launch_bounds__(128, 6)'));
  assert.ok(cuda('rmsnorm').includes('__launch_bounds__(128)'));
});

test('workgroupSum and workgroupMax are subgroup collectives, not a barrier per tree level', () => {
  const rms = cuda('rmsnorm', { WG: 256 });
  assert.ok(rms.includes('mimo_warp_sum('), 'rmsnorm.cu reduces with mimo_warp_sum');
  assert.is(count(rms, '__syncthreads()'), 2, 'rmsnorm.cu: two barriers (partials written, partials read), whatever WG is');
  const wgsl = compileKernel(opKernel('rmsnorm'), 'wgsl', {}).source;
  assert.ok(wgsl.includes('enable subgroups;') && wgsl.includes('subgroupAdd('), 'rmsnorm.wgsl uses subgroupAdd');
  assert.ok(cuda('softmax').includes('mimo_warp_max('), 'softmax.cu reduces with mimo_warp_max');
  const router = cuda('moe_router');
  assert.ok(router.includes('mimo_warp_max('), 'moe_router.cu picks with mimo_warp_max');
  assert.is(count(router, '__syncthreads()'), 4, 'moe_router.cu: two barriers per reduction, two reductions per round');
  // The group max of 128/EPT lanes: shuffles, and the two barriers of the (here never taken)
  // round through shared memory for groups wider than a subgroup, not one per tree level.
  const quant = cuda('quant_act_e4m3', { EPT: 1 });
  assert.ok(quant.includes('__shfl_xor_sync(') && quant.includes('mimo_warp_max('), 'quant_act_e4m3.cu: shuffles and warp maxima');
  assert.is(count(quant, '__syncthreads()'), 2, 'quant_act_e4m3.cu: two barriers');
});

/** Runs an ops/ kernel on the interpreter with `sgSize`-lane subgroups; returns its outputs. */
function interp(name: string, sgSize: number, tensors: Record<string, HostArray>, scalars: Record<string, number>, choice: TunableChoice = {}) {
  const k = lowerForTarget(opKernel(name), 'interp', choice);
  interpret(k, { tensors, scalars }, { subgroupSize: sgSize });
  return tensors;
}

const BF16_OUT: Tolerance = { rtol: 1e-2, atol: 1e-2 };
const F32: Tolerance = { rtol: 1e-5, atol: 1e-6 };

for (const sg of [4, 8, 16, 64]) {
  test(`reductions with ${sg}-lane subgroups: rmsnorm, softmax, quant_act_e4m3, moe_router`, () => {
    const [T, D] = [2, 300];
    const x = bf16(uniform(sg + 1, T * D, -3, 3));
    const w = bf16(uniform(sg + 2, D, 0.5, 1.5));
    for (const WG of [64, 256]) {
      const out = interp('rmsnorm', sg, { x: packArray('bf16', x), w: packArray('bf16', w), y: new Uint16Array(T * D) }, { T, D }, { WG });
      assertClose(unpackArray('bf16', out.y as Uint16Array), rmsnormRef(x, w, T, D), BF16_OUT, `rmsnorm WG=${WG} sg=${sg}`);
    }
    const [R, N] = [2, 257];
    const sx = Float32Array.from(uniform(sg + 3, R * N, -30, 30));
    const sm = interp('softmax', sg, { x: sx, y: new Float32Array(R * N) }, { R, N });
    assertClose(sm.y as Float32Array, softmaxRef(sx, R, N), F32, `softmax sg=${sg}`);
    // EPT 1: 128 lanes per group, more than a subgroup, so partials go through shared memory.
    for (const EPT of [1, 4]) {
      const [QT, K] = [2, 300];
      const a = activations(sg + 4, QT, K);
      const q = interp('quant_act_e4m3', sg, { x: packArray('bf16', a), q: new Uint8Array(QT * K), scales: new Float32Array(QT * 3) }, { T: QT, K }, { EPT });
      const r = checkQuantAct(false, a, QT, K, { q: q.q as Uint8Array, scales: q.scales as Float32Array });
      assert.is(r.error, undefined, `quant_act_e4m3 EPT=${EPT} sg=${sg}: ${r.error}`);
    }
    const [RT, E, TOPK] = [2, 37, 3];
    const { logits, bias } = routerInputs(sg + 5, RT, E, TOPK);
    const ro = interp('moe_router', sg, { logits, bias, ids: new Int32Array(RT * TOPK), weights: new Float32Array(RT * TOPK) }, { T: RT, E, TOPK }, { WG: 64 });
    const ref = routerRef(logits, bias, RT, E, TOPK);
    assert.equal(Array.from(ro.ids as Int32Array), Array.from(ref.ids), `moe_router ids sg=${sg}`);
    assertClose(ro.weights as Float32Array, ref.weights, { rtol: 1e-5, atol: 0 }, `moe_router weights sg=${sg}`);
  });
}

test('workgroupMax propagates NaN (softmax of a row holding one is NaN) on the interpreter and on WebGPU', async () => {
  const [R, N] = [2, 300];
  const x = Float32Array.from(uniform(7, R * N, -5, 5));
  x[N + 123] = NaN;
  const runs: [string, Float32Array][] = [['interp sg=4', interp('softmax', 4, { x: x.slice(), y: new Float32Array(R * N) }, { R, N }).y as Float32Array]];
  runs.push(['webgpu', (await runFresh('webgpu', opKernel('softmax'), { tensors: { x, y: new Float32Array(R * N) }, scalars: { R, N } })).y as Float32Array]);
  for (const [where, y] of runs) {
    assertClose(y.subarray(0, N), softmaxRef(x.subarray(0, N), 1, N), F32, `softmax row 0 (${where})`);
    assert.ok(y.subarray(N).every(Number.isNaN), `softmax row 1 holds a NaN: every output NaN (${where})`);
  }
});

test.run();
