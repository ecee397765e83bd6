import { barrier, localIndex, max, type f32, type i32, type Shared } from '../../compiler/dsl/index.js';

/**
 * Sum of `value` over the first `size` threads of the workgroup (size a power of two,
 * at most the workgroup size), returned to every thread. `scratch` holds `size` floats
 * and may be reused after the call.
 */
export function workgroupSum(scratch: Shared<f32>, value: f32, size: i32): f32 {
  scratch[localIndex] = value;
  barrier();
  for (let s = size / 2; s > 0; s = s / 2) {
    if (localIndex < s) {
      scratch[localIndex] = scratch[localIndex] + scratch[localIndex + s];
    }
    barrier();
  }
  const total = scratch[0];
  barrier();
  return total;
}

/** Maximum of `value` over the workgroup, as workgroupSum. */
export function workgroupMax(scratch: Shared<f32>, value: f32, size: i32): f32 {
  scratch[localIndex] = value;
  barrier();
  for (let s = size / 2; s > 0; s = s / 2) {
    if (localIndex < s) {
      scratch[localIndex] = max(scratch[localIndex], scratch[localIndex + s]);
    }
    barrier();
  }
  const total = scratch[0];
  barrier();
  return total;
}
