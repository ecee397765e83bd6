import type { Kernel } from '../ir/nodes.js';
import { BYTES } from '../ir/types.js';
import type { TargetCaps } from '../target.js';
import { CompileError } from '../frontend/errors.js';

/** Rejects a specialised kernel that the target cannot launch, naming the limit. */
export function checkLimits(k: Kernel, caps: TargetCaps): void {
  const fail = (msg: string, hint?: string) => {
    throw new CompileError(`${caps.name}: ${msg}`, k.loc, undefined, hint, k.name);
  };
  const wg = k.workgroup.map((w) => (w.k === 'num' ? w.v : NaN));
  wg.forEach((w, i) => {
    if (!(w >= 1)) fail(`workgroup size ${'xyz'[i]} must be a positive constant`);
    if (w > caps.maxWorkgroupSize[i]) fail(`workgroup size ${'xyz'[i]} = ${w} exceeds ${caps.maxWorkgroupSize[i]}`);
  });
  const threads = wg.reduce((a, b) => a * b, 1);
  if (threads > caps.maxInvocations) fail(`${threads} invocations per workgroup exceed ${caps.maxInvocations}`, 'choose smaller tunables');
  const bytes = k.shared.reduce((a, s) => a + (s.size.k === 'num' ? s.size.v : NaN) * (caps.packNarrowTypes ? 4 : BYTES[s.dtype]), 0);
  if (bytes > caps.maxWorkgroupStorage) fail(`${bytes} bytes of workgroup memory exceed ${caps.maxWorkgroupStorage}`, 'choose smaller tiles');
  if (k.tensors.length > caps.maxStorageBuffers) fail(`${k.tensors.length} storage buffers exceed ${caps.maxStorageBuffers} per stage`, 'fuse or concatenate tensors');
}
