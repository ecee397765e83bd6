import {
  kernel, cdiv, localId, workgroupId, bf16, f32, fp8e4m3, fp8e5m2, type i32, type Out, type Tensor,
} from '../../compiler/dsl/index.js';

/**
 * Elementwise casts between f32/bf16 and the two FP8 formats, one element per thread.
 * The rounding is the DSL's: f32 -> fp8 rounds to nearest even and saturates to the
 * largest finite value (NVIDIA's __NV_SATFINITE, ±inf -> ±max), NaN -> 0x7f; f32 -> bf16
 * rounds to nearest even, NaN -> 0x7fff; fp8 -> f32 and fp8 -> bf16 are exact.
 * test/fp8-exact.test.ts checks every one of them bit for bit against NVIDIA's cuda_fp8.h.
 */
const elementwise = {
  tunables: { WG: [256, 64, 128] },
  constraints: (c: { WG: i32 }) => [c.WG % 32 === 0],
  workgroup: (c: { WG: i32 }) => [c.WG],
  grid: (c: { N: i32; WG: i32 }) => [cdiv(c.N, c.WG)],
};
type Ctx = { N: i32; WG: i32 };

/** The element this thread owns. */
function element(cfg: { WG: i32 }): i32 {
  return workgroupId.x * cfg.WG + localId.x;
}

export const cast_f32_to_e4m3 = kernel(
  { doc: 'y[i] = e4m3(x[i]); RNE, saturating to ±448, NaN -> 0x7f', ...elementwise },
  (x: Tensor<f32, ['N']>, y: Out<fp8e4m3, ['N']>, c: Ctx) => {
    const i = element(c);
    if (i < c.N) y[i] = fp8e4m3(x[i]);
  },
);

export const cast_f32_to_e5m2 = kernel(
  { doc: 'y[i] = e5m2(x[i]); RNE, saturating to ±57344, NaN -> 0x7f', ...elementwise },
  (x: Tensor<f32, ['N']>, y: Out<fp8e5m2, ['N']>, c: Ctx) => {
    const i = element(c);
    if (i < c.N) y[i] = fp8e5m2(x[i]);
  },
);

export const cast_bf16_to_e4m3 = kernel(
  { doc: 'y[i] = e4m3(x[i]); bf16 in, one RNE rounding, saturating, NaN -> 0x7f', ...elementwise },
  (x: Tensor<bf16, ['N']>, y: Out<fp8e4m3, ['N']>, c: Ctx) => {
    const i = element(c);
    if (i < c.N) y[i] = fp8e4m3(f32(x[i]));
  },
);

export const cast_bf16_to_e5m2 = kernel(
  { doc: 'y[i] = e5m2(x[i]); bf16 in, one RNE rounding, saturating, NaN -> 0x7f', ...elementwise },
  (x: Tensor<bf16, ['N']>, y: Out<fp8e5m2, ['N']>, c: Ctx) => {
    const i = element(c);
    if (i < c.N) y[i] = fp8e5m2(f32(x[i]));
  },
);

export const cast_f32_to_bf16 = kernel(
  { doc: 'y[i] = bf16(x[i]); RNE, overflow -> ±inf, NaN -> 0x7fff', ...elementwise },
  (x: Tensor<f32, ['N']>, y: Out<bf16, ['N']>, c: Ctx) => {
    const i = element(c);
    if (i < c.N) y[i] = bf16(x[i]);
  },
);

export const cast_e4m3_to_f32 = kernel(
  { doc: 'y[i] = x[i]; e4m3 in, exact', ...elementwise },
  (x: Tensor<fp8e4m3, ['N']>, y: Out<f32, ['N']>, c: Ctx) => {
    const i = element(c);
    if (i < c.N) y[i] = f32(x[i]);
  },
);

export const cast_e5m2_to_f32 = kernel(
  { doc: 'y[i] = x[i]; e5m2 in, exact', ...elementwise },
  (x: Tensor<fp8e5m2, ['N']>, y: Out<f32, ['N']>, c: Ctx) => {
    const i = element(c);
    if (i < c.N) y[i] = f32(x[i]);
  },
);

export const cast_e4m3_to_bf16 = kernel(
  { doc: 'y[i] = x[i]; e4m3 in, bf16 out, exact (NaN -> 0x7fff)', ...elementwise },
  (x: Tensor<fp8e4m3, ['N']>, y: Out<bf16, ['N']>, c: Ctx) => {
    const i = element(c);
    if (i < c.N) y[i] = bf16(f32(x[i]));
  },
);

export const cast_e5m2_to_bf16 = kernel(
  { doc: 'y[i] = x[i]; e5m2 in, bf16 out, exact (NaN -> 0x7fff)', ...elementwise },
  (x: Tensor<fp8e5m2, ['N']>, y: Out<bf16, ['N']>, c: Ctx) => {
    const i = element(c);
    if (i < c.N) y[i] = bf16(f32(x[i]));
  },
);
