import { kernel, bf16, localIndex, min, numWorkgroups, workgroupId, type Dim, type i32, type Out, type Tensor } from '../../compiler/dsl/index.js';

/**
 * Row copies of the forward pass: the token embedding, the last-position gather before the
 * lm_head, and the MTP layer's concat[enorm(embed), hnorm(h)] before eh_proj. bf16 rows are
 * copied as they are (no arithmetic). One workgroup per output row; workgroups stride over
 * the rows, so the grid stays below 65536 (WebGPU's per-dimension limit) for any T or R.
 */

/**
 * dst = src[row] when 0 <= row < rows, else zeros. An `if` rather than a select, so that an
 * invalid row reads nothing at all (even src[0], which may not exist).
 */
function copyRowOrZero(src: Tensor<bf16, [Dim, Dim]>, row: i32, rows: i32, dst: Out<bf16, [Dim]>, c: { H: i32; WG: i32 }): void {
  if (row >= 0 && row < rows) {
    for (let h = localIndex; h < c.H; h += c.WG) dst[h] = src[row][h];
  } else {
    for (let h = localIndex; h < c.H; h += c.WG) dst[h] = bf16(0.0);
  }
}

export const embed_tokens = kernel(
  {
    doc: 'out[t, :] = table[ids[t], :]; zeros where ids[t] is outside [0, V) (never read); bf16 [V, H] table',
    tunables: { WG: [256, 128, 64] },
    constraints: (c) => [c.WG % 32 === 0],
    workgroup: (c) => [c.WG],
    grid: (c) => [min(c.T, 65535)],
  },
  (table: Tensor<bf16, ['V', 'H']>, ids: Tensor<i32, ['T']>, out: Out<bf16, ['T', 'H']>, c: { V: i32; H: i32; T: i32; WG: i32 }) => {
    for (let t = workgroupId.x; t < c.T; t += numWorkgroups.x) copyRowOrZero(table, ids[t], c.V, out[t], c);
  },
);

export const gather_rows = kernel(
  {
    doc: 'out[r, :] = x[rows[r], :]; zeros where rows[r] is outside [0, T) (never read); bf16',
    tunables: { WG: [256, 128, 64] },
    constraints: (c) => [c.WG % 32 === 0],
    workgroup: (c) => [c.WG],
    grid: (c) => [min(c.R, 65535)],
  },
  (x: Tensor<bf16, ['T', 'H']>, rows: Tensor<i32, ['R']>, out: Out<bf16, ['R', 'H']>, c: { T: i32; H: i32; R: i32; WG: i32 }) => {
    for (let r = workgroupId.x; r < c.R; r += numWorkgroups.x) copyRowOrZero(x, rows[r], c.T, out[r], c);
  },
);

export const concat_halves = kernel(
  {
    doc: 'out[t, 0:H] = a[t, :], out[t, H:2H] = b[t, :]; out is [T, 2 * H]; bf16',
    tunables: { WG: [256, 128, 64] },
    constraints: (c) => [c.WG % 32 === 0],
    workgroup: (c) => [c.WG],
    grid: (c) => [min(c.T, 65535)],
  },
  (a: Tensor<bf16, ['T', 'H']>, b: Tensor<bf16, ['T', 'H']>, out: Out<bf16, ['T', '2 * H']>, c: { T: i32; H: i32; WG: i32 }) => {
    for (let t = workgroupId.x; t < c.T; t += numWorkgroups.x) {
      for (let h = localIndex; h < c.H; h += c.WG) {
        out[t][h] = a[t][h];
        out[t][c.H + h] = b[t][h];
      }
    }
  },
);
