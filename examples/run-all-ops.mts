/**
 * The main job's last step: runs every generated kernel on the software GPU (WebGPU on
 * SwiftShader) and as generated CUDA on the CPU emulator, on one realistic shape each,
 * and prints the worst error against a float64 reference.
 *   npx tsx examples/run-all-ops.mts
 */
import { packArray, unpackArray } from '../compiler/ir/numerics.js';
import { describeGpu, getGpu } from '../backends/webgpu/device.js';
import { runKernel, type Backend } from '../test/harness/backends.js';
import { uniform } from '../test/harness/prng.js';
import { gemmRef, rmsnormRef, softmaxRef, swigluRef } from '../test/harness/reference.js';
import type { HostArray, LaunchArgs } from '../backends/common/args.js';

interface Case { kernel: string; shape: string; args: LaunchArgs; output: string; reference: ArrayLike<number> }
const bf16 = (v: ArrayLike<number>) => unpackArray('bf16', packArray('bf16', v));
const asF32 = (a: HostArray) => (a instanceof Uint16Array ? unpackArray('bf16', a) : (a as Float32Array));

function cases(): Case[] {
  const T = 5, F = 2048, D = 4096, R = 4, N = 1000, M = 64, K = 96, Nn = 80;
  const gate = bf16(uniform(1, T * F, -4, 4)), up = bf16(uniform(2, T * F));
  const x = bf16(uniform(3, T * D, -3, 3)), w = bf16(uniform(4, D, 0.5, 1.5));
  const s = Float32Array.from(uniform(5, R * N, -20, 20));
  const a = bf16(uniform(6, M * K)), b = bf16(uniform(7, K * Nn));
  return [
    { kernel: 'swiglu', shape: `T=${T} F=${F}`, args: { tensors: { gate: packArray('bf16', gate), up: packArray('bf16', up), out: new Uint16Array(T * F) }, scalars: { T, F } }, output: 'out', reference: swigluRef(gate, up) },
    { kernel: 'rmsnorm', shape: `T=${T} D=${D}`, args: { tensors: { x: packArray('bf16', x), w: packArray('bf16', w), y: new Uint16Array(T * D) }, scalars: { T, D } }, output: 'y', reference: rmsnormRef(x, w, T, D) },
    { kernel: 'softmax', shape: `R=${R} N=${N}`, args: { tensors: { x: s, y: new Float32Array(R * N) }, scalars: { R, N } }, output: 'y', reference: softmaxRef(s, R, N) },
    { kernel: 'gemm_f32', shape: `M=${M} N=${Nn} K=${K}`, args: { tensors: { a, b, out: new Float32Array(M * Nn) }, scalars: { M, N: Nn, K } }, output: 'out', reference: gemmRef(a, b, M, Nn, K) },
    { kernel: 'gemm_bf16', shape: `M=${M} N=${Nn} K=${K}`, args: { tensors: { a: packArray('bf16', a), b: packArray('bf16', b), out: new Float32Array(M * Nn) }, scalars: { M, N: Nn, K } }, output: 'out', reference: gemmRef(a, b, M, Nn, K) },
  ];
}

console.log(`device: ${describeGpu(await getGpu())}`);
console.log('kernel      shape                 backend    max |err|     time');
let failed = 0;
for (const c of cases()) {
  for (const backend of ['webgpu', 'cuda-emu'] as Backend[]) {
    const t0 = performance.now();
    const out = asF32((await runKernel(backend, c.kernel, c.args))[c.output]);
    const ms = performance.now() - t0;
    let err = 0;
    for (let i = 0; i < out.length; i++) err = Math.max(err, Math.abs(out[i] - c.reference[i]) / Math.max(1, Math.abs(c.reference[i])));
    const ok = err < 2e-2;
    if (!ok) failed++;
    console.log(`${c.kernel.padEnd(11)} ${c.shape.padEnd(21)} ${backend.padEnd(10)} ${err.toExponential(2).padEnd(13)} ${ms.toFixed(0).padStart(5)} ms ${ok ? '' : ' MISMATCH'}`);
  }
}
if (failed) {
  console.error(`${failed} runs disagree with the reference`);
  process.exitCode = 1;
}
