import { kernel, cdiv, exp, f32, bf16, localId, workgroupId, type Tensor, type Out, type i32 } from '../compiler/dsl/index.js';

export function silu(x: f32): f32 {
  return x / (1.0 + exp(-x));
}

/** SwiGLU activation of the MoE and dense FFNs: out = silu(gate) * up, elementwise over [T, F]. */
export const swiglu = kernel(
  {
    doc: 'out[t,f] = silu(gate[t,f]) * up[t,f]; bf16 in/out, f32 math',
    tunables: { BLOCK: [256, 64, 128] },
    workgroup: (c) => [c.BLOCK],
    grid: (c) => [cdiv(c.T * c.F, c.BLOCK)],
  },
  (gate: Tensor<bf16, ['T', 'F']>, up: Tensor<bf16, ['T', 'F']>, out: Out<bf16, ['T', 'F']>, c: { T: i32; F: i32; BLOCK: i32 }) => {
    const i = workgroupId.x * c.BLOCK + localId.x;
    if (i < c.T * c.F) {
      out[i] = bf16(silu(f32(gate[i])) * f32(up[i]));
    }
  },
);
