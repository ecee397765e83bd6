import { barrier, localIndex, max, type f32, type i32, type Shared } from '../../compiler/dsl/index.js';

/**
 * Tree reduction of `value` over the first `size` threads of the workgroup (size a power
 * of two, at most the workgroup size), returned to every thread: the maximum when
 * `takeMax` (a compile-time constant at every call), else the sum. `scratch` holds `size`
 * floats and may be reused after the call.
 */
function workgroupReduce(scratch: Shared<f32>, value: f32, size: i32, takeMax: boolean): f32 {
  scratch[localIndex] = value;
  barrier();
  for (let s = size / 2; s > 0; s = s / 2) {
    if (localIndex < s) {
      const a = scratch[localIndex];
      const b = scratch[localIndex + s];
      scratch[localIndex] = takeMax ? max(a, b) : a + b;
    }
    barrier();
  }
  const total = scratch[0];
  barrier();
  return total;
}

/** Sum of `value` over the workgroup (see workgroupReduce). */
export function workgroupSum(scratch: Shared<f32>, value: f32, size: i32): f32 {
  return workgroupReduce(scratch, value, size, false);
}

/** Maximum of `value` over the workgroup (see workgroupReduce). */
export function workgroupMax(scratch: Shared<f32>, value: f32, size: i32): f32 {
  return workgroupReduce(scratch, value, size, true);
}
