import type { LoweredKernel } from '../ir/lowered.js';
import type { TargetCaps } from '../common/target.js';
import { CompileError } from '../common/errors.js';

/**
 * Where each target's workgroup-memory limit comes from. CUDA's is sm_80's opt-in maximum of
 * dynamic shared memory (common/target.ts): past 48 KiB the arena is dynamic and every
 * launcher opts in with cudaFuncSetAttribute (codegen/cuda/sharedArena.ts).
 */
const STORAGE_WHY: Partial<Record<TargetCaps['name'], string>> = {
  wgsl: "WebGPU's default maxComputeWorkgroupStorageSize",
  interp: "WebGPU's default maxComputeWorkgroupStorageSize, which the interpreter keeps",
  cuda: 'the shared memory per block of sm_80 (163 KiB opt-in), the lowest architecture generated CUDA supports',
};

/**
 * Rejects a specialised kernel that the target cannot launch, naming the limit and the
 * tunable values that broke it (each target has its own defaults: ir/tunables.ts).
 */
export function checkLimits(k: LoweredKernel, caps: TargetCaps): void {
  const tunables = k.tunables.map((t) => `${t.name}=${k.consts[t.name]}`).join(', ');
  const fail = (msg: string, hint?: string) => {
    throw new CompileError(`${caps.name}: ${msg}${tunables ? ` (tunables ${tunables})` : ''}`, k.loc, undefined, hint, k.name);
  };
  k.workgroup.forEach((w, i) => {
    if (!(w >= 1)) fail(`workgroup size ${'xyz'[i]} must be positive, got ${w}`);
    if (w > caps.maxWorkgroupSize[i]) fail(`workgroup size ${'xyz'[i]} = ${w} exceeds ${caps.maxWorkgroupSize[i]}`);
  });
  const { threads, sharedBytes: bytes } = k.facts;
  if (threads > caps.maxInvocations) fail(`${threads} invocations per workgroup exceed ${caps.maxInvocations}`, 'choose smaller tunables');
  const why = STORAGE_WHY[caps.name];
  // After sharedReuse: the bytes the target really declares, arrays never live together overlapping.
  if (bytes > caps.maxWorkgroupStorage) fail(`${bytes} bytes of workgroup memory exceed ${caps.maxWorkgroupStorage}${why ? `, ${why}` : ''}`, 'choose smaller tiles');
  if (k.tensors.length > caps.maxStorageBuffers) fail(`${k.tensors.length} storage buffers exceed ${caps.maxStorageBuffers} per stage`, 'fuse or concatenate tensors');
}
