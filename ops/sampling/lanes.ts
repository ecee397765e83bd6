import { barrier, localIndex, type f32, type i32, type Local, type Shared } from '../../compiler/dsl/index.js';

/**
 * sums[d] (d < 8) summed over the workgroup, back into every thread's sums: eight sums
 * for four barriers (a tree per lane would take 8 * log2(WG)). red holds 8 * WG floats;
 * WG is a power of two >= 8. The order of the additions is
 * the same for every lane and every call, so equal inputs give bit-identical sums.
 */
export function workgroupSumLanes(red: Shared<f32>, sums: Local<f32>, WG: i32): void {
  for (let d = 0; d < 8; d++) red[d * WG + localIndex] = sums[d];
  barrier();
  // Thread t folds the eight partials of lane t / (WG / 8), group t % (WG / 8), into the group's first slot.
  const groups = WG / 8;
  const base = (localIndex / groups) * WG + (localIndex % groups) * 8;
  let part = 0.0;
  for (let i = 0; i < 8; i++) part += red[base + i];
  red[base] = part;
  barrier();
  if (localIndex < 8) {
    let total = 0.0;
    for (let g = 0; g < groups; g++) total += red[localIndex * WG + g * 8];
    red[localIndex * WG] = total;
  }
  barrier();
  for (let d = 0; d < 8; d++) sums[d] = red[d * WG];
  barrier();
}
