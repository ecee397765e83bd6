import { kernel, cdiv, exp, f32, bf16, localId, workgroupId, type Tensor, type Out, type i32 } from '../compiler/dsl/index.js';

export function silu(x: f32): f32 {
  return x / (1.0 + exp(-x));
}

/**
 * SwiGLU activation of the MoE and dense FFNs: out = silu(gate) * up. Elementwise, so the
 * tensors are flat: a caller with [T, F] activations passes N = T * F.
 */
export const swiglu = kernel(
  {
    doc: 'out[i] = silu(gate[i]) * up[i]; bf16 in/out, f32 math',
    tunables: { BLOCK: [256, 64, 128] },
    workgroup: (c) => [c.BLOCK],
    grid: (c) => [cdiv(c.N, c.BLOCK)],
  },
  (gate: Tensor<bf16, ['N']>, up: Tensor<bf16, ['N']>, out: Out<bf16, ['N']>, c: { N: i32; BLOCK: i32 }) => {
    const i = workgroupId.x * c.BLOCK + localId.x;
    if (i < c.N) {
      out[i] = bf16(silu(f32(gate[i])) * f32(up[i]));
    }
  },
);
