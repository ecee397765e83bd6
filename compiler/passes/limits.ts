import type { LoweredKernel } from '../ir/lowered.js';
import type { TargetCaps } from '../common/target.js';
import { CompileError } from '../common/errors.js';

/** Rejects a specialised kernel that the target cannot launch, naming the limit. */
export function checkLimits(k: LoweredKernel, caps: TargetCaps): void {
  const fail = (msg: string, hint?: string) => {
    throw new CompileError(`${caps.name}: ${msg}`, k.loc, undefined, hint, k.name);
  };
  k.workgroup.forEach((w, i) => {
    if (!(w >= 1)) fail(`workgroup size ${'xyz'[i]} must be positive, got ${w}`);
    if (w > caps.maxWorkgroupSize[i]) fail(`workgroup size ${'xyz'[i]} = ${w} exceeds ${caps.maxWorkgroupSize[i]}`);
  });
  const { threads, sharedBytes: bytes } = k.facts;
  if (threads > caps.maxInvocations) fail(`${threads} invocations per workgroup exceed ${caps.maxInvocations}`, 'choose smaller tunables');
  if (bytes > caps.maxWorkgroupStorage) fail(`${bytes} bytes of workgroup memory exceed ${caps.maxWorkgroupStorage}`, 'choose smaller tiles');
  if (k.tensors.length > caps.maxStorageBuffers) fail(`${k.tensors.length} storage buffers exceed ${caps.maxStorageBuffers} per stage`, 'fuse or concatenate tensors');
}
