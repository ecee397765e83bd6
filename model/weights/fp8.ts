/**
 * Block FP8 quantisation of a weight, as the published checkpoint stores it and the FP8
 * GEMMs expect (DeepGEMM's recipe, ../shared/design.md): per 128x128 block
 * s = f32(max(amax, 1e-4) / 448), q = e4m3(f32(w / s)) round-to-nearest-even saturating;
 * the file stores q and `weight_scale_inv` = s, so w ≈ q * s. Edge blocks are partial.
 */
import { E4M3 } from '../../compiler/ir/numerics.js';
import { tableEncoder } from './fast-encode.js';
import { FP8_BLOCK, scaleShape } from './names.js';

const fround = Math.fround;
const AMAX_MIN = fround(1e-4);
const e4m3 = tableEncoder(E4M3);

export function quantiseBlocksE4m3(w: ArrayLike<number>, n: number, k: number): { q: Uint8Array; scales: Float32Array } {
  if (w.length !== n * k) throw new Error(`quantiseBlocksE4m3: weight has ${w.length} values, [${n}, ${k}] needs ${n * k}`);
  const [bn, bk] = scaleShape(n, k);
  const q = new Uint8Array(n * k);
  const scales = new Float32Array(bn * bk);
  for (let bi = 0; bi < bn; bi++) {
    const r0 = bi * FP8_BLOCK, r1 = Math.min(n, r0 + FP8_BLOCK);
    for (let bj = 0; bj < bk; bj++) {
      const c0 = bj * FP8_BLOCK, c1 = Math.min(k, c0 + FP8_BLOCK);
      let amax = 0;
      for (let r = r0; r < r1; r++) for (let c = c0; c < c1; c++) amax = Math.max(amax, Math.abs(w[r * k + c]));
      const s = fround(Math.max(amax, AMAX_MIN) / 448);
      scales[bi * bk + bj] = s;
      for (let r = r0; r < r1; r++) for (let c = c0; c < c1; c++) q[r * k + c] = e4m3(fround(w[r * k + c] / s));
    }
  }
  return { q, scales };
}
