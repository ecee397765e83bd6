/**
 * Float64 references written from the math in the fact sheet, independent of the
 * compiler: plain loops over row-major arrays.
 */
export const silu = (x: number): number => x / (1 + Math.exp(-x));

export function swigluRef(gate: ArrayLike<number>, up: ArrayLike<number>): Float64Array {
  return Float64Array.from({ length: gate.length }, (_, i) => silu(gate[i]) * up[i]);
}

export function rmsnormRef(x: ArrayLike<number>, w: ArrayLike<number>, T: number, D: number, eps = 1e-5): Float64Array {
  const y = new Float64Array(T * D);
  for (let t = 0; t < T; t++) {
    let ss = 0;
    for (let d = 0; d < D; d++) ss += x[t * D + d] ** 2;
    const inv = 1 / Math.sqrt(ss / D + eps);
    for (let d = 0; d < D; d++) y[t * D + d] = x[t * D + d] * inv * w[d];
  }
  return y;
}

export function softmaxRef(x: ArrayLike<number>, R: number, N: number): Float64Array {
  const y = new Float64Array(R * N);
  for (let r = 0; r < R; r++) {
    let m = -Infinity;
    for (let i = 0; i < N; i++) m = Math.max(m, x[r * N + i]);
    let s = 0;
    for (let i = 0; i < N; i++) s += Math.exp(x[r * N + i] - m);
    for (let i = 0; i < N; i++) y[r * N + i] = Math.exp(x[r * N + i] - m) / s;
  }
  return y;
}

export function gemmRef(a: ArrayLike<number>, b: ArrayLike<number>, M: number, N: number, K: number): Float64Array {
  const c = new Float64Array(M * N);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += a[i * K + k] * b[k * N + j];
      c[i * N + j] = s;
    }
  }
  return c;
}
