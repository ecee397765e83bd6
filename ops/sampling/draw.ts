import { barrier, localIndex, min, type f32, type i32, type Local, type Shared, type Tensor, type u32 } from '../../compiler/dsl/index.js';
import { keptWeight } from './filter.js';

/**
 * Inverse-CDF draw from the filtered distribution of filterRow's cuts, with `exclude`'s
 * mass removed (-1: none), over token ids in ascending order: the smallest id whose
 * cumulative weight exceeds u * total. Thread t owns the contiguous ids
 * [t*C, (t+1)*C), C = ceil(V / WG): it sums its chunk, thread 0 scans the WG sums
 * serially (so the running sums never decrease in f32, and exactly one chunk owns any
 * target below the total), and the owner walks its chunk again. When rounding puts the
 * target at or past the end of the owner's walk (or u * total rounds up to the total),
 * the owner's last token of positive weight is drawn. The total must be positive: the
 * row max always is (weight 1), and a rejected draft leaves positive mass behind.
 * scan holds WG floats, pick one int; every thread gets the id.
 */
export function drawKept(
  logits: Tensor<f32, readonly string[]>, row: i32, V: i32, m: f32, temperature: f32, cutKey: Local<u32>, cutId: Local<i32>,
  exclude: i32, u: f32, active: boolean, scan: Shared<f32>, pick: Shared<i32>, WG: i32,
): i32 {
  const chunk = (V + WG - 1) / WG;
  const lo = localIndex * chunk;
  const hi = min(lo + chunk, V);
  let s = 0.0;
  if (active) {
    for (let v = lo; v < hi; v++) s += keptWeight(logits[row + v], v, m, temperature, cutKey, cutId, exclude);
  }
  scan[localIndex] = s;
  if (localIndex === 0) pick[0] = -1; // what an inactive call returns
  barrier();
  if (localIndex === 0) {
    let run = 0.0;
    for (let t = 0; t < WG; t++) {
      run += scan[t];
      scan[t] = run;
    }
  }
  barrier();
  const incl = scan[localIndex];
  const excl = localIndex > 0 ? scan[localIndex - 1] : 0.0;
  const total = scan[WG - 1];
  const target = u * total;
  const owner = (excl <= target && target < incl) || (target >= total && incl === total && excl < incl);
  if (active && owner) {
    let run = excl;
    let found = -1;
    let last = -1;
    for (let v = lo; v < hi; v++) {
      const w = keptWeight(logits[row + v], v, m, temperature, cutKey, cutId, exclude);
      if (w > 0.0) {
        last = v;
        run += w;
        if (found < 0 && run > target) found = v;
      }
    }
    pick[0] = found >= 0 ? found : last;
  }
  barrier();
  const id = pick[0];
  barrier();
  return id;
}
