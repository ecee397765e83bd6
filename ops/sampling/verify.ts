import { kernel, cdiv, localIndex, workgroupId, type bool, type f32, type i32, type Out, type Tensor, type u32 } from '../../compiler/dsl/index.js';
import { drawKept } from './draw.js';
import { filterRow, filterWorkspace, keptMass, keptWeight } from './filter.js';
import { uniformDraw } from './random.js';

/**
 * Verification of N chained draft tokens per sequence (MTP with one draft per step) in
 * FlashInfer's chain format: accepted[b, :] is the accepted drafts, then the token the
 * target emits at the first rejection (or the bonus token after N acceptances), padded
 * with -1 to N + 1 entries; accept_len[b] counts the non-padding entries (1..N+1). A
 * draft id outside [0, V) is never accepted.
 */

/** SGLang verify_tree_greedy for a chain: draft i is accepted while it equals the target argmax at i. */
export const verify_greedy = kernel(
  {
    doc: 'accepted[b,:] = target_ids[b,0..a] then -1, a = number of leading draft[b,i] == target_ids[b,i]; accept_len[b] = a + 1',
    consts: { WG: 64 },
    workgroup: (c) => [c.WG],
    grid: (c) => [cdiv(c.B, c.WG)],
  },
  (
    draft: Tensor<i32, ['B', 'N']>, target_ids: Tensor<i32, ['B', 'N + 1']>, accepted: Out<i32, ['B', 'N + 1']>, accept_len: Out<i32, ['B']>,
    c: { B: i32; N: i32; WG: i32 },
  ) => {
    const b = workgroupId.x * c.WG + localIndex;
    if (b < c.B) {
      // An accepted draft equals the target's token there, so the row is the target's tokens up to the first mismatch.
      let live = true;
      let len = 0;
      for (let i = 0; i <= c.N; i++) {
        const t = target_ids[b][i];
        accepted[b][i] = live ? t : -1;
        if (live) len = i + 1;
        live = live && i < c.N && draft[b][i] === t;
      }
      accept_len[b] = len;
    }
  },
);

/**
 * Lossless speculative sampling with a deterministic drafter (SGLang's target-only
 * tree_speculative_sampling with draft_probs = 0, chain form). At position i < N, p is
 * the filtered target distribution (filter.ts, as sample_token) and t = draft[b, i]:
 * accept t iff uniformDraw(seed, step, b, 2i) < p(t); on rejection emit a draw (stream
 * 2i + 1) from p with t's mass removed, renormalised, and stop. After N acceptances the
 * bonus token is drawn from position N's p (stream 2N + 1). The emitted tokens are then
 * distributed exactly as sampling from the target one position at a time.
 * One workgroup per sequence walks the positions in order; after the stop it keeps
 * looping without touching memory (barriers must stay in uniform control flow).
 */
export const verify_sample = kernel(
  {
    doc: 'speculative sampling of N chained drafts against target logits[b,i,:] (filtered as sample_token): accept draft with probability p(draft), else draw from p without it and stop; bonus draw after N acceptances',
    // 128 first: at 256, ptxas for sm_90a spills (28 bytes) in this long loop body; sm_80 does not.
    tunables: { WG: [128, 64, 256, 32] },
    constraints: (c) => [256 % c.WG === 0, c.WG >= 32],
    requires: (c) => [c.V >= 1, c.V < 16777216, c.temperature > 0, c.top_k >= 0, c.top_p > 0, c.top_p <= 1],
    workgroup: (c) => [c.WG],
    grid: (c) => [c.B],
  },
  (
    draft: Tensor<i32, ['B', 'N']>, logits: Tensor<f32, ['B', 'N + 1', 'V']>, accepted: Out<i32, ['B', 'N + 1']>, accept_len: Out<i32, ['B']>,
    c: { B: i32; N: i32; V: i32; temperature: f32; top_k: i32; top_p: f32; seed: u32; step: u32; WG: i32 },
  ) => {
    const b = workgroupId.x;
    const ws = filterWorkspace(c);
    // Identical in every thread: derived from workgroup-wide results only.
    let done: bool = false;
    let len = 0;
    for (let i = 0; i <= c.N; i++) {
      const row = logits[b][i];
      const live: bool = !done;
      const m = filterRow(row, c, ws, live);
      const z = keptMass(row, c, ws, m, live);
      const t = i < c.N ? draft[b][i] : -1;
      const pt = t >= 0 && t < c.V ? keptWeight(row[t], t, m, c, ws, -1) / z : 0.0;
      const accept: bool = live && uniformDraw(c.seed, c.step, b, 2 * i) < pt;
      const emitted = drawKept(row, c, ws, m, { u: uniformDraw(c.seed, c.step, b, 2 * i + 1), exclude: t }, live && !accept);
      if (live) {
        if (localIndex === 0) accepted[b][i] = accept ? t : emitted;
        len = i + 1;
        done = !accept;
      }
    }
    if (localIndex === 0) {
      for (let i = len; i <= c.N; i++) accepted[b][i] = -1;
      accept_len[b] = len;
    }
  },
);
