import { barrier, bitcast, localIndex, u32, type f32, type i32, type Shared } from '../../compiler/dsl/index.js';

/**
 * The token order every sampling kernel uses: larger logit first, equal logits by lower id.
 */

/**
 * An unsigned key that orders finite f32 values like the values: flip every bit of a
 * negative (its magnitude bits grow the wrong way), set the sign bit of a positive.
 * -0 gets +0's key, so equal values always tie. Bisection over keys is bisection over
 * values with exactly 32 steps and no rounding.
 */
export function rankKey(x: f32): u32 {
  const bits = bitcast(u32, x);
  const key = bits ^ ((u32(0) - (bits >> 31)) | u32(0x80000000));
  return key === u32(0x7fffffff) ? u32(0x80000000) : key;
}

/** Whether (v, id) ranks above (w, jd): higher value, or equal value and lower id. */
export function ranksAbove(v: f32, id: i32, w: f32, jd: i32): boolean {
  return v > w || (v === w && id < jd);
}

/**
 * The best of every thread's (value, id) candidate under ranksAbove, returned to every
 * thread as its id. bestV and bestI hold WG entries (WG a power of two) and may be
 * reused after the call.
 */
export function workgroupArgmax(bestV: Shared<f32>, bestI: Shared<i32>, v: f32, id: i32, WG: i32): i32 {
  bestV[localIndex] = v;
  bestI[localIndex] = id;
  barrier();
  for (let h = WG / 2; h > 0; h = h / 2) {
    if (localIndex < h && ranksAbove(bestV[localIndex + h], bestI[localIndex + h], bestV[localIndex], bestI[localIndex])) {
      bestV[localIndex] = bestV[localIndex + h];
      bestI[localIndex] = bestI[localIndex + h];
    }
    barrier();
  }
  const best = bestI[0];
  barrier();
  return best;
}
