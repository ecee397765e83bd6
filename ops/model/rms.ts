import { bf16, f32, rsqrt, type i32, type Shared } from '../../compiler/dsl/index.js';
import { workgroupSum } from '../common/reduce.js';

/**
 * The math of ops/rmsnorm.ts as helpers, for kernels that fuse a norm into something else
 * and must round exactly as the plain rmsnorm does: same reduction tree, same operation
 * order, one rounding to bf16.
 */

/** rsqrt(mean(x^2) + eps) of a D-wide row, from each of the WG threads' partial sums of squares. */
export function rmsInverse(scratch: Shared<f32>, sumSq: f32, D: i32, WG: i32, EPS: f32): f32 {
  return rsqrt(workgroupSum(scratch, sumSq, WG) / f32(D) + EPS);
}

/** One normalised element, bf16(x * inv * w). */
export function rmsScaled(x: f32, inv: f32, w: bf16): bf16 {
  return bf16(x * inv * f32(w));
}
