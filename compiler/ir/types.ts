/** Scalar types of the IR. Storage-only types (bf16, f16, fp8) must be cast to f32 before arithmetic. */
export type DType = 'f32' | 'f16' | 'bf16' | 'fp8e4m3' | 'fp8e5m2' | 'i32' | 'u32' | 'bool';

export const DTYPES: readonly DType[] = ['f32', 'f16', 'bf16', 'fp8e4m3', 'fp8e5m2', 'i32', 'u32', 'bool'];
export const STORAGE_ONLY: ReadonlySet<DType> = new Set(['f16', 'bf16', 'fp8e4m3', 'fp8e5m2']);

export const isFloat = (t: DType): boolean => t === 'f32' || STORAGE_ONLY.has(t);
export const isInt = (t: DType): boolean => t === 'i32' || t === 'u32';

/** Bytes per element in memory. */
export const BYTES: Record<DType, number> = {
  f32: 4, f16: 2, bf16: 2, fp8e4m3: 1, fp8e5m2: 1, i32: 4, u32: 4, bool: 4,
};
