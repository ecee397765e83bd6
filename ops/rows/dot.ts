import { bf16, cdiv, f32, min, type Dim, type fp8e4m3, type i32, type Local, type Out, type Tensor } from '../../compiler/dsl/index.js';

/**
 * The inner loops of the rows kernels (ops/rows/*.ts): one thread owns one weight row
 * w[n, :] and walks it once, multiplying every weight into up to TMAX activation rows.
 * Decode is memory-bound on the weights, so each weight is read once per TMAX rows and
 * never staged; no shared memory, no barriers (the choice is argued in ops/rows/linear.ts).
 * acc[j] is the f32 dot product of x[t0 + j] with the weight row, for j < rows (the others
 * are left at zero).
 *
 * The row loop runs to the compile-time TMAX with a uniform `j < rows` test rather than to
 * `rows`, so that its indices fold to constants and acc stays in registers.
 */

/** Rows x[t0 .. t0 + rows) of a bf16 activation whose rows are K long; rows <= TMAX, a compile-time constant. */
type XRows = { x: Tensor<bf16, [Dim, Dim]>; t0: i32; rows: i32; K: i32; TMAX: i32 };

/** acc[j] += wv * x[t0 + j][k] for j < rows. */
function axpyRows(acc: Local<f32>, wv: f32, xs: XRows, k: i32): void {
  for (let j = 0; j < xs.TMAX; j++) {
    if (j < xs.rows) acc[j] += wv * f32(xs.x[xs.t0 + j][k]);
  }
}

function zero(acc: Local<f32>, TMAX: i32): void {
  for (let j = 0; j < TMAX; j++) acc[j] = 0.0;
}

/** acc[j] = x[t0 + j] · w for a bf16 weight row w of K elements. */
export function dotRowsBf16(xs: XRows, w: Tensor<bf16, [Dim]>, acc: Local<f32>): void {
  zero(acc, xs.TMAX);
  for (let k = 0; k < xs.K; k++) axpyRows(acc, f32(w[k]), xs, k);
}

/**
 * As dotRowsBf16 for an e4m3 weight row with one f32 scale per GROUP-wide K block
 * (scales[kb], cdiv(K, GROUP) of them): each weight is dequantised as f32(w) * scale
 * before the multiply, exactly the dequantised weight of the definition.
 */
export function dotRowsFp8(xs: XRows, w: Tensor<fp8e4m3, [Dim]>, scales: Tensor<f32, [Dim]>, acc: Local<f32>, GROUP: i32): void {
  zero(acc, xs.TMAX);
  for (let kb = 0; kb < cdiv(xs.K, GROUP); kb++) {
    const s = scales[kb];
    const kEnd = min(xs.K, kb * GROUP + GROUP);
    for (let k = kb * GROUP; k < kEnd; k++) axpyRows(acc, f32(w[k]) * s, xs, k);
  }
}

/** y[t0 + j][n] = bf16(acc[j]) for the rows of xs: the bf16 output column n of a block. */
export function storeRows(acc: Local<f32>, xs: XRows, y: Out<bf16, [Dim, Dim]>, n: i32): void {
  for (let j = 0; j < xs.TMAX; j++) {
    if (j < xs.rows) y[xs.t0 + j][n] = bf16(acc[j]);
  }
}
