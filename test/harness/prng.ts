/** Deterministic inputs: the same seed gives the same data on every machine (mulberry32). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n values uniform in [lo, hi). */
export function uniform(seed: number, n: number, lo = -1, hi = 1): Float64Array {
  const r = prng(seed);
  return Float64Array.from({ length: n }, () => lo + (hi - lo) * r());
}
