import { f32, min, type bf16, type fp8e4m3, type i32, type Local, type Tensor } from '../../compiler/dsl/index.js';

/**
 * The inner loops of the rows kernels (ops/rows/*.ts): one thread owns one weight row
 * w[n, :] and walks it once, multiplying every weight into up to TMAX activation rows.
 * Decode is memory-bound on the weights, so each weight is read once per TMAX rows and
 * never staged; no shared memory, no barriers (the choice is argued in ops/rows/linear.ts). acc[j] is the f32 dot product of x row
 * (row0 + j) with the weight row, for j < rows (the others are left at zero).
 *
 * The row loop runs to the compile-time TMAX with a uniform `j < rows` test rather than to
 * `rows`, so that its indices fold to constants and acc stays in registers.
 */

/** acc[j] += wv * x[xOff + j*xStride] for j < rows. */
function axpyRows(acc: Local<f32>, wv: f32, x: Tensor<bf16, readonly string[]>, xOff: i32, xStride: i32, rows: i32, TMAX: i32): void {
  for (let j = 0; j < TMAX; j++) {
    if (j < rows) acc[j] += wv * f32(x[xOff + j * xStride]);
  }
}

function zero(acc: Local<f32>, TMAX: i32): void {
  for (let j = 0; j < TMAX; j++) acc[j] = 0.0;
}

/** acc[j] = x[row0 + j, 0:K] · w[wOff : wOff + K] for bf16 weights (x rows start at xOff, K apart). */
export function dotRowsBf16(
  x: Tensor<bf16, readonly string[]>, xOff: i32, rows: i32, w: Tensor<bf16, readonly string[]>, wOff: i32, K: i32, acc: Local<f32>, TMAX: i32,
): void {
  zero(acc, TMAX);
  for (let k = 0; k < K; k++) axpyRows(acc, f32(w[wOff + k]), x, xOff + k, K, rows, TMAX);
}

/**
 * As dotRowsBf16 for e4m3 weights with one f32 scale per 128-wide K block (ws[sOff + kb]):
 * each weight is dequantised as f32(w) * scale before the multiply, exactly the
 * dequantised weight of the definition. Blocks past KB are not visited.
 */
export function dotRowsFp8(
  x: Tensor<bf16, readonly string[]>, xOff: i32, rows: i32, w: Tensor<fp8e4m3, readonly string[]>, wOff: i32, K: i32,
  ws: Tensor<f32, readonly string[]>, sOff: i32, KB: i32, acc: Local<f32>, TMAX: i32, GROUP: i32,
): void {
  zero(acc, TMAX);
  for (let kb = 0; kb < KB; kb++) {
    const s = ws[sOff + kb];
    const kEnd = min(K, kb * GROUP + GROUP);
    for (let k = kb * GROUP; k < kEnd; k++) axpyRows(acc, f32(w[wOff + k]) * s, x, xOff + k, K, rows, TMAX);
  }
}
