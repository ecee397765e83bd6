import * as assert from 'uvu/assert';

export interface Tolerance { readonly rtol: number; readonly atol: number }

export interface CloseStats {
  /** Elements outside the tolerance, and the first of them (-1 if none). */
  readonly bad: number;
  readonly first: number;
  /** Largest finite |actual - expected|. */
  readonly worst: number;
  /** Largest |actual - expected| / (atol + rtol*|expected|): <= 1 everywhere when bad is 0. */
  readonly worstRatio: number;
}

/** Elementwise |a - e| <= atol + rtol*|e| (numpy's allclose), NaN only where expected. */
export function closeStats(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tolerance): CloseStats {
  let bad = 0;
  let first = -1;
  let worst = 0;
  let worstRatio = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    const err = Math.abs(a - e);
    const ok = Number.isNaN(e) ? Number.isNaN(a) : err <= tol.atol + tol.rtol * Math.abs(e);
    if (!ok) {
      bad++;
      if (first < 0) first = i;
    }
    if (Number.isFinite(err)) worst = Math.max(worst, err);
    worstRatio = Math.max(worstRatio, ok ? (Number.isNaN(e) ? 0 : err / (tol.atol + tol.rtol * Math.abs(e)) || 0) : Infinity);
  }
  return { bad, first, worst, worstRatio };
}

/**
 * Asserts closeStats finds nothing outside the tolerance. On failure names the first bad
 * index, both values and how many elements failed.
 */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tolerance, label: string): void {
  assert.is(actual.length, expected.length, `${label}: length`);
  const { bad, first, worst } = closeStats(actual, expected, tol);
  if (bad) assert.unreachable(`${label}: ${bad}/${expected.length} elements outside rtol=${tol.rtol} atol=${tol.atol}; first at [${first}]: got ${actual[first]}, want ${expected[first]} (max abs err ${worst})`);
}
