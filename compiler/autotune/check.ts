import type { DType } from '../ir/types.js';
import { STORAGE_ONLY } from '../ir/types.js';
import { unpackArray, type NarrowType } from '../ir/numerics.js';
import type { HostArray } from '../launch/args.js';

const asNumbers = (dtype: DType, a: HostArray): ArrayLike<number> => (STORAGE_ONLY.has(dtype) ? unpackArray(dtype as NarrowType, a) : a);

/**
 * Why a candidate's output differs from the reference, or undefined when it matches.
 * Integers must match exactly. Floats may differ by accumulation order: narrow outputs
 * by 2e-2 (a few bf16 ulps), f32 by 1e-3 of the output's largest magnitude. A NaN
 * where the reference has a number (e.g. an element never written: outputs start as
 * NaN) is always a mismatch.
 */
export function compareOutputs(name: string, dtype: DType, reference: HostArray, got: HostArray): string | undefined {
  const r = asNumbers(dtype, reference);
  const g = asNumbers(dtype, got);
  if (r.length !== g.length) return `${name}: ${g.length} elements, reference has ${r.length}`;
  if (dtype === 'i32' || dtype === 'u32') {
    for (let i = 0; i < r.length; i++) if (r[i] !== g[i]) return `${name}[${i}] = ${g[i]}, reference ${r[i]}`;
    return undefined;
  }
  let scale = 0;
  for (let i = 0; i < r.length; i++) if (Number.isFinite(r[i])) scale = Math.max(scale, Math.abs(r[i]));
  const narrow = STORAGE_ONLY.has(dtype);
  for (let i = 0; i < r.length; i++) {
    if (Number.isNaN(r[i])) continue;
    const tol = narrow ? 2e-2 * (1 + Math.abs(r[i])) : 1e-3 * Math.max(scale, 1e-6);
    if (!(Math.abs(g[i] - r[i]) <= tol)) return `${name}[${i}] = ${g[i]}, reference ${r[i]} (tolerance ${tol.toExponential(1)})`;
  }
  return undefined;
}
