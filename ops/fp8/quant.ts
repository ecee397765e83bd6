import {
  kernel, abs, barrier, cdiv, local, localIndex, max, shared, workgroupId, bf16, f32, fp8e4m3, type i32, type Out, type Tensor,
} from '../../compiler/dsl/index.js';

/**
 * Block FP8 (DeepSeek-V3 / DeepGEMM recipe, MiMo-V2-Flash `weight_block_size: [128, 128]`):
 * activations are quantised per token in 1x128 groups along K, weights carry one f32
 * scale per 128x128 block. scale = max(amax, 1e-4) / 448, q = e4m3(x / scale) (RNE,
 * saturating). A partial last group (K or N not a multiple of 128) has its own scale over
 * the elements it has. Scale tensors are [rows, cdiv(cols, 128)]: the DSL names every
 * dimension by a symbol, so that count is a shape symbol (G, KB, NB) the caller must set
 * to cdiv(K, 128) (cdiv(N, 128)); the kernels never index past it. Inputs are assumed
 * finite: max() of a NaN differs between targets (CUDA fmaxf drops it, WGSL leaves it open).
 */
export const quant_act_e4m3 = kernel(
  {
    doc: 'per token t and 1x128 group g along K: s = max(amax|x|, 1e-4)/448; q[t,k] = e4m3(x[t,k]/s); scales[t,g] = s (G = cdiv(K,128))',
    tunables: { WG: [128, 64, 256], EPT: [4, 1, 2, 8] },
    // EPT elements per thread, so GROUP/EPT threads share a group and WG*EPT/GROUP groups share a workgroup.
    constraints: (c) => [(c.WG * c.EPT) % 128 === 0, 128 % c.EPT === 0],
    requires: (c) => [c.G === cdiv(c.K, c.GROUP)],
    consts: { GROUP: 128, AMAX_MIN: 1e-4, FP8_MAX: 448 },
    workgroup: (c) => [c.WG],
    grid: (c) => [c.T * cdiv(c.K, c.WG * c.EPT)],
  },
  (
    x: Tensor<bf16, ['T', 'K']>, q: Out<fp8e4m3, ['T', 'K']>, scales: Out<f32, ['T', 'G']>,
    c: { T: i32; K: i32; G: i32; WG: i32; EPT: i32; GROUP: i32; AMAX_MIN: f32; FP8_MAX: f32 },
  ) => {
    const tpg = c.GROUP / c.EPT;
    const chunks = cdiv(c.K, c.WG * c.EPT);
    const t = workgroupId.x / chunks;
    const g = (workgroupId.x % chunks) * (c.WG / tpg) + localIndex / tpg;
    const lane = localIndex % tpg;
    const row = t * c.K;
    // Consecutive lanes own consecutive elements of the group (coalesced).
    const v = local(f32, c.EPT);
    let amax = 0.0;
    for (let j = 0; j < c.EPT; j++) {
      const k = g * c.GROUP + lane + j * tpg;
      v[j] = k < c.K ? f32(x[row + k]) : 0.0;
      amax = max(amax, abs(v[j]));
    }
    // Segmented max over the tpg lanes of each group.
    const red = shared(f32, c.WG);
    red[localIndex] = amax;
    barrier();
    for (let s = tpg / 2; s > 0; s = s / 2) {
      if (lane < s) red[localIndex] = max(red[localIndex], red[localIndex + s]);
      barrier();
    }
    const scale = max(red[localIndex - lane], c.AMAX_MIN) / c.FP8_MAX;
    for (let j = 0; j < c.EPT; j++) {
      const k = g * c.GROUP + lane + j * tpg;
      if (k < c.K) q[row + k] = fp8e4m3(v[j] / scale);
    }
    if (lane === 0 && g * c.GROUP < c.K && g < c.G) scales[t * c.G + g] = scale;
  },
);

export const dequant_w_e4m3 = kernel(
  {
    doc: 'out[n,k] = bf16(f32(w[n,k]) * scales[n/128, k/128]); 128x128 blocks (NB = cdiv(N,128), KB = cdiv(K,128))',
    tunables: { WG: [256, 64, 128], EPT: [4, 1, 2] },
    requires: (c) => [c.NB === cdiv(c.N, c.GROUP), c.KB === cdiv(c.K, c.GROUP)],
    consts: { GROUP: 128 },
    workgroup: (c) => [c.WG],
    grid: (c) => [c.N * cdiv(c.K, c.WG * c.EPT)],
  },
  (
    w: Tensor<fp8e4m3, ['N', 'K']>, scales: Tensor<f32, ['NB', 'KB']>, out: Out<bf16, ['N', 'K']>,
    c: { N: i32; K: i32; NB: i32; KB: i32; WG: i32; EPT: i32; GROUP: i32 },
  ) => {
    const chunks = cdiv(c.K, c.WG * c.EPT);
    const n = workgroupId.x / chunks;
    const k0 = (workgroupId.x % chunks) * c.WG * c.EPT + localIndex;
    const srow = (n / c.GROUP) * c.KB;
    for (let j = 0; j < c.EPT; j++) {
      const k = k0 + j * c.WG;
      if (k < c.K && k / c.GROUP < c.KB && n / c.GROUP < c.NB) out[n * c.K + k] = bf16(f32(w[n * c.K + k]) * scales[srow + k / c.GROUP]);
    }
  },
);
