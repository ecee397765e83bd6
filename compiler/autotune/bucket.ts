/**
 * Shape buckets: each dynamic dimension rounded up to a power of two (Triton users do
 * the same by hand). Dependency-free: the runtimes pick tuned variants with it.
 */
export const nextPow2 = (n: number): number => (n <= 1 ? 1 : 2 ** Math.ceil(Math.log2(n)));
