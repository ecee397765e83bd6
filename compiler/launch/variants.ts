/**
 * Shape buckets and the tuned variant a launch picks: each dynamic dimension rounded up
 * to a power of two (Triton users do the same by hand). The compiler writes the buckets a
 * variant won into the manifest; the runtimes pick a variant with the same rule here.
 */
export const nextPow2 = (n: number): number => (n <= 1 ? 1 : 2 ** Math.ceil(Math.log2(n)));

/** nextPow2 in words, for the manifest's `bucketRule`. */
export const BUCKET_RULE = 'nextPow2(each shape symbol): the smallest power of two >= its value (1 for 0 and 1)';

/** What tunedVariant reads of a manifest entry (codegen/manifest.ts ManifestKernel has it). */
export interface TunedVariants {
  readonly variants?: readonly { readonly kernel: string; readonly device: string; readonly buckets: readonly Readonly<Record<string, number>>[] }[];
}

/**
 * The tuned variant to launch for these shape symbols: the one whose buckets hold their
 * power-of-two bucket, among those measured on `device` (a winner measured elsewhere, on
 * another adapter or with other limits, may be slower here or not even fit, so it is never
 * applied); undefined for the kernel's default.
 */
export function tunedVariant(m: TunedVariants, device: string | undefined, scalars: Readonly<Record<string, number>>): string | undefined {
  if (device === undefined) return undefined;
  return m.variants?.find((v) => v.device === device && v.buckets.some((b) => Object.entries(b).every(([d, p]) => nextPow2(scalars[d]) === p)))?.kernel;
}
