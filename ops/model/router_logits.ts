import {
  kernel, barrier, cdiv, f32, local, localIndex, min, numWorkgroups, shared, workgroupId, type bf16, type i32, type Out, type Tensor,
} from '../../compiler/dsl/index.js';

/**
 * The MoE gate's Linear, in f32 as the reference does it (F.linear(x.float(), w.float())
 * with the f32 gate weight): logits[t, e] = sum_h f32(x[t, h]) * w[e, h].
 *
 * A workgroup computes EG experts of one token: each thread walks H with stride WG, reading
 * x[t, h] once for all EG experts and w[e, h] coalesced across the warp, into EG f32
 * partial sums; one shared-memory tree per expert (all EG in the same log2(WG) barrier
 * steps) adds the WG partials. The order of every f32 addition is fixed by WG alone, so
 * results are deterministic and identical from run to run. Workgroups stride over tokens:
 * grid [cdiv(E, EG), min(T, 65535)].
 */
export const router_logits = kernel(
  {
    doc: 'logits[t, e] = sum_h f32(x[t, h]) * w[e, h]; x bf16 [T, H], w f32 [E, H], f32 accumulation; deterministic',
    tunables: { EG: [4, 8, 2, 16], WG: [128, 64, 256] },
    // The tree halves WG each step: a power of two.
    constraints: (c) => [256 % c.WG === 0, c.WG >= 32],
    workgroup: (c) => [c.WG],
    grid: (c) => [cdiv(c.E, c.EG), min(c.T, 65535)],
  },
  (x: Tensor<bf16, ['T', 'H']>, w: Tensor<f32, ['E', 'H']>, logits: Out<f32, ['T', 'E']>, c: { T: i32; H: i32; E: i32; EG: i32; WG: i32 }) => {
    const e0 = workgroupId.x * c.EG;
    const part = shared(f32, c.EG, c.WG);
    const acc = local(f32, c.EG);
    for (let t = workgroupId.y; t < c.T; t += numWorkgroups.y) {
      for (let j = 0; j < c.EG; j++) acc[j] = 0.0;
      for (let h = localIndex; h < c.H; h += c.WG) {
        const xv = f32(x[t][h]);
        for (let j = 0; j < c.EG; j++) {
          if (e0 + j < c.E) acc[j] += xv * w[e0 + j][h];
        }
      }
      for (let j = 0; j < c.EG; j++) part[j][localIndex] = acc[j];
      barrier();
      for (let s = c.WG / 2; s > 0; s = s / 2) {
        if (localIndex < s) {
          for (let j = 0; j < c.EG; j++) part[j][localIndex] += part[j][localIndex + s];
        }
        barrier();
      }
      if (localIndex < c.EG && e0 + localIndex < c.E) logits[t][e0 + localIndex] = part[localIndex][0];
      // The next token's partials overwrite part[]: everyone must have read this one's sums.
      barrier();
    }
  },
);
