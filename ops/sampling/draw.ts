import { barrier, localIndex, min, type f32, type i32, type Tensor } from '../../compiler/dsl/index.js';
import { keptWeight, type Filter, type Workspace } from './filter.js';

/**
 * Inverse-CDF draw from the filtered distribution of filterRow's cuts (row max m), with
 * `draw.exclude`'s mass removed (-1: none), over token ids in ascending order: the
 * smallest id whose cumulative weight exceeds u * total. Thread t owns the contiguous ids
 * [t*C, (t+1)*C), C = ceil(V / WG): it sums its chunk, thread 0 scans the WG sums
 * serially (so the running sums never decrease in f32, and exactly one chunk owns any
 * target below the total), and the owner walks its chunk again. When rounding puts the
 * target at or past the end of the owner's walk (or u * total rounds up to the total),
 * the owner's last token of positive weight is drawn. The total must be positive: the
 * row max always is (weight 1), and a rejected draft leaves positive mass behind.
 * Uses ws.red (WG floats) and ws.pick; every thread gets the id, -1 when not `active`.
 */
export function drawKept(row: Tensor<f32, ['V']>, c: Filter, ws: Workspace, m: f32, draw: { u: f32; exclude: i32 }, active: boolean): i32 {
  const scan = ws.red;
  const chunk = (c.V + c.WG - 1) / c.WG;
  const lo = localIndex * chunk;
  const hi = min(lo + chunk, c.V);
  let s = 0.0;
  if (active) {
    for (let v = lo; v < hi; v++) s += keptWeight(row[v], v, m, c, ws, draw.exclude);
  }
  scan[localIndex] = s;
  if (localIndex === 0) ws.pick[0] = -1; // what an inactive call returns
  barrier();
  if (localIndex === 0) {
    let run = 0.0;
    for (let t = 0; t < c.WG; t++) {
      run += scan[t];
      scan[t] = run;
    }
  }
  barrier();
  const incl = scan[localIndex];
  const excl = localIndex > 0 ? scan[localIndex - 1] : 0.0;
  const total = scan[c.WG - 1];
  const target = draw.u * total;
  const owner = (excl <= target && target < incl) || (target >= total && incl === total && excl < incl);
  if (active && owner) {
    let run = excl;
    let found = -1;
    let last = -1;
    for (let v = lo; v < hi; v++) {
      const w = keptWeight(row[v], v, m, c, ws, draw.exclude);
      if (w > 0.0) {
        last = v;
        run += w;
        if (found < 0 && run > target) found = v;
      }
    }
    ws.pick[0] = found >= 0 ? found : last;
  }
  barrier();
  const id = ws.pick[0];
  barrier();
  return id;
}
