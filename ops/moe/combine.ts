import { kernel, bf16, f32, localIndex, workgroupId, type i32, type Out, type Tensor } from '../../compiler/dsl/index.js';

/**
 * Back to token order: out[t, :] = Σ_j w[t, j] * y[slotRow[t, j], :] over the TOPK slots of
 * token t, in f32, in slot order j = 0, 1, ... (a fixed order: no float atomics, so the
 * result is bit-identical run to run), rounded to bf16 once. Slots with slotRow < 0 (not
 * routed, or dropped past the masked layout's capacity) contribute nothing. y is either
 * layout's down-projection output viewed as rows: [MP, H] (contiguous) or [E*C, H]
 * (masked); slotRow comes from moe_place_contiguous / moe_place_masked.
 */
export const moe_combine = kernel(
  {
    doc: 'out[t, :] = Σ_j w[t, j] * y[slotRow[t, j], :] (f32, slots in order, rows < 0 skipped), bf16 out; y[R, H] bf16 from either layout',
    tunables: { WG: [256, 128] },
    workgroup: (c) => [c.WG],
    grid: (c) => [c.T],
  },
  (
    y: Tensor<bf16, ['R', 'H']>, slotRow: Tensor<i32, ['T', 'TOPK']>, w: Tensor<f32, ['T', 'TOPK']>, out: Out<bf16, ['T', 'H']>,
    c: { R: i32; H: i32; T: i32; TOPK: i32; WG: i32 },
  ) => {
    const t = workgroupId.x;
    for (let h = localIndex; h < c.H; h += c.WG) {
      let acc = 0.0;
      for (let j = 0; j < c.TOPK; j++) {
        const row = slotRow[t][j];
        if (row >= 0 && row < c.R) {
          acc += w[t][j] * f32(y[row][h]);
        }
      }
      out[t][h] = bf16(acc);
    }
  },
);
