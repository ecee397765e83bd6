import type { KernelBase } from '../ir/nodes.js';
import type { DType } from '../ir/types.js';

export interface UniformField { readonly name: string; readonly dtype: DType; readonly offset: number }
export interface BindingLayout {
  readonly tensors: readonly { readonly name: string; readonly binding: number }[];
  /** Runtime scalars packed in one uniform struct (WebGPU allows few bindings). */
  readonly uniform?: { readonly binding: number; readonly size: number; readonly fields: readonly UniformField[] };
}

/**
 * The one place that decides binding numbers and the uniform layout, read by the WGSL
 * emitter, the manifest and the runtime: tensors in parameter order, then the uniform
 * block. All scalars are 4 bytes, so offsets are 4*i; the block is padded to 16 bytes.
 */
export function bindingLayout(k: KernelBase): BindingLayout {
  const tensors = k.tensors.map((t, i) => ({ name: t.name, binding: i }));
  if (!k.scalars.length) return { tensors };
  const fields = k.scalars.map((s, i) => ({ name: s.name, dtype: s.dtype, offset: 4 * i }));
  return { tensors, uniform: { binding: tensors.length, size: Math.ceil((4 * fields.length) / 16) * 16, fields } };
}
