import {
  kernel, abs, cdiv, local, localIndex, max, shared, workgroupId, bf16, f32, fp8e4m3, type i32, type Out, type Tensor,
} from '../../compiler/dsl/index.js';
import { runMax } from '../common/reduce.js';

/**
 * Block FP8 (DeepSeek-V3 / DeepGEMM recipe, MiMo-V2-Flash `weight_block_size: [128, 128]`):
 * activations are quantised per token in 1x128 groups along K, weights carry one f32
 * scale per 128x128 block. scale = max(amax, 1e-4) / 448, q = e4m3(x / scale) (RNE,
 * saturating). A partial last group (K or N not a multiple of 128) has its own scale over
 * the elements it has, so scale tensors are [rows, cdiv(cols, 128)]. Inputs are assumed
 * finite: a NaN makes its group's amax, and so its scale, NaN (max propagates NaN on every
 * backend) rather than being quantised.
 */

/** Where a thread sits in quant_act_e4m3: tpg threads share a 128-group, each owns EPT of its elements. */
type GroupLane = { g: i32; lane: i32; tpg: i32 };

/** Column of the j-th element a lane owns: consecutive lanes own consecutive elements (coalesced). */
function groupColumn(at: GroupLane, j: i32): i32 {
  return at.g * 128 + at.lane + j * at.tpg;
}

/** max of `amax` over the tpg lanes of each group (consecutive threads), in the workgroup's own scratch. */
function groupMax(cfg: { WG: i32 }, at: GroupLane, amax: f32): f32 {
  const red = shared(f32, cfg.WG);
  return runMax(red, amax, at.tpg, cfg.WG);
}

export const quant_act_e4m3 = kernel(
  {
    doc: 'per token t and 1x128 group g along K: s = max(amax|x|, 1e-4)/448; q[t,k] = e4m3(x[t,k]/s); scales[t,g] = s',
    tunables: { WG: [128, 64, 256], EPT: [4, 1, 2, 8] },
    // EPT elements per thread, so 128/EPT threads share a group and WG*EPT/128 groups share a workgroup.
    constraints: (c) => [(c.WG * c.EPT) % 128 === 0, 128 % c.EPT === 0],
    consts: { AMAX_MIN: 1e-4, FP8_MAX: 448 },
    workgroup: (c) => [c.WG],
    grid: (c) => [c.T * cdiv(c.K, c.WG * c.EPT)],
  },
  (
    x: Tensor<bf16, ['T', 'K']>, q: Out<fp8e4m3, ['T', 'K']>, scales: Out<f32, ['T', 'cdiv(K, 128)']>,
    c: { T: i32; K: i32; WG: i32; EPT: i32; AMAX_MIN: f32; FP8_MAX: f32 },
  ) => {
    const tpg = 128 / c.EPT;
    const chunks = cdiv(c.K, c.WG * c.EPT);
    const t = workgroupId.x / chunks;
    const at = { g: (workgroupId.x % chunks) * (c.WG / tpg) + localIndex / tpg, lane: localIndex % tpg, tpg };
    const v = local(f32, c.EPT);
    let amax = 0.0;
    for (let j = 0; j < c.EPT; j++) {
      const k = groupColumn(at, j);
      v[j] = k < c.K ? f32(x[t][k]) : 0.0;
      amax = max(amax, abs(v[j]));
    }
    const scale = max(groupMax(c, at, amax), c.AMAX_MIN) / c.FP8_MAX;
    for (let j = 0; j < c.EPT; j++) {
      const k = groupColumn(at, j);
      if (k < c.K) q[t][k] = fp8e4m3(v[j] / scale);
    }
    if (at.lane === 0 && at.g * 128 < c.K) scales[t][at.g] = scale;
  },
);

export const dequant_w_e4m3 = kernel(
  {
    doc: 'out[n,k] = bf16(f32(w[n,k]) * scales[n/128, k/128]); 128x128 blocks',
    tunables: { WG: [256, 64, 128], EPT: [4, 1, 2] },
    workgroup: (c) => [c.WG],
    grid: (c) => [c.N * cdiv(c.K, c.WG * c.EPT)],
  },
  (
    w: Tensor<fp8e4m3, ['N', 'K']>, scales: Tensor<f32, ['cdiv(N, 128)', 'cdiv(K, 128)']>, out: Out<bf16, ['N', 'K']>,
    c: { N: i32; K: i32; WG: i32; EPT: i32 },
  ) => {
    const chunks = cdiv(c.K, c.WG * c.EPT);
    const n = workgroupId.x / chunks;
    const k0 = (workgroupId.x % chunks) * c.WG * c.EPT + localIndex;
    const block = scales[n / 128];
    for (let j = 0; j < c.EPT; j++) {
      const k = k0 + j * c.WG;
      if (k < c.K) out[n][k] = bf16(f32(w[n][k]) * block[k / 128]);
    }
  },
);
