import {
  kernel, barrier, cdiv, localIndex, max, min, numWorkgroups, shared, workgroupId,
  bf16, fp8e4m3, i32, type Dim, type f32, type Out, type Shared, type Tensor,
} from '../../compiler/dsl/index.js';

/**
 * Grouping of routed tokens by expert (DeepGEMM's two MoE layouts, ../shared/design.md).
 *
 * Input: the router's expert ids ids[T, TOPK] (slot s = t*TOPK + j of the flattened array;
 * ids outside [0, E) mean "not routed" and are skipped). The kernels work on slots, so they
 * read ids and write slotRow through .flat: a slot is the unit of the math here.
 *
 *   moe_count            per chunk of CH = 256 slots, how many slots go to each expert
 *   moe_scan             chunk offsets per expert (exclusive scan over chunks), per-expert
 *                        counts, and contiguous-layout row offsets (each expert's block
 *                        padded to ALIGN rows)
 *   moe_place_contiguous rowIndex[MP] (row -> slot, -1 on padding), rowExpert[MP] (-1 on
 *                        padding), slotRow[T, TOPK] (slot -> row, for the combine)
 *   moe_place_masked     rowIndex[E, C], slotRow[T, TOPK], maskedCount[E] = min(count, C)
 *   moe_gather(_fp8)     permuted activations xp[R, H] (R = MP or E*C) from rowIndex
 *
 * Deterministic by construction: no atomics at all. The rank of a slot among its expert's
 * slots is its chunk's offset (a fixed-order scan) plus the number of earlier slots of the
 * same expert inside its chunk, so an expert's rows are in (token, slot) order whatever the
 * scheduling. The same ids give bit-identical outputs on every backend.
 *
 * ALIGN (rows per expert block) is one value per target, declared as a tunable with a single
 * candidate each so that the manifest carries it to the host (model/gpu/blocks.ts reads it
 * there). The grouped GEMM's constraints require BM to divide it, so that every BM-row tile
 * belongs to one expert. CUDA: 128, DeepGEMM's contiguous-layout alignment, because its
 * prefill tile is 128 rows (two warpgroups of wgmma M = 64, passes/wgmmaTile.ts), which reads
 * each expert's weights once per 128 rows instead of twice. WebGPU: 32, its tile height.
 * Padding is waste (memory, and tiles that only exit: on SwiftShader an exiting workgroup
 * costs about as much as a small working one), up to ALIGN - 1 rows per expert with a token:
 * the contiguous layout is for prefill, where experts get about 128 rows each at T = 4096;
 * decode-sized batches put only a few rows on each expert (the masked layout, or the rows kernels).
 * Host-side shape helpers (NC, MP, ...) are in ops/moe/shapes.ts; MOE_ALIGN and MOE_CHUNK
 * mirror ALIGN and CH (test/moe.test.ts checks it).
 */

/** Loads chunk `chunk` (CH slots) of the ids into shared memory, -1 past the last slot. */
function loadChunk(ids: Tensor<i32, [Dim, Dim]>, sIds: Shared<i32>, chunk: i32, slots: i32, CH: i32): void {
  const s = chunk * CH + localIndex;
  sIds[localIndex] = s < slots ? ids.flat[s] : -1;
}

/** How many of the first `before` slots of the staged chunk go to expert e. */
function rankInChunk(sIds: Shared<i32>, e: i32, before: i32): i32 {
  let n = 0;
  for (let j = 0; j < before; j++) {
    if (sIds[j] === e) {
      n += 1;
    }
  }
  return n;
}

/** n rounded up to a multiple of a. */
function alignUp(n: i32, a: i32): i32 {
  return ((n + a - 1) / a) * a;
}

type CountCtx = { T: i32; TOPK: i32; E: i32; CH: i32 };

export const moe_count = kernel(
  {
    doc: 'chunkCounts[c, e] = number of slots of chunk c (CH = 256 consecutive slots of ids[T, TOPK]) routed to expert e',
    consts: { CH: 256 },
    workgroup: (c) => [c.CH],
    grid: (c) => [cdiv(c.T * c.TOPK, c.CH)],
  },
  (ids: Tensor<i32, ['T', 'TOPK']>, chunkCounts: Out<i32, ['cdiv(T * TOPK, CH)', 'E']>, c: CountCtx) => {
    const sIds = shared(i32, c.CH);
    const chunk = workgroupId.x;
    loadChunk(ids, sIds, chunk, c.T * c.TOPK, c.CH);
    barrier();
    for (let e = localIndex; e < c.E; e += c.CH) {
      chunkCounts[chunk][e] = rankInChunk(sIds, e, c.CH);
    }
  },
);

export const moe_scan = kernel(
  {
    doc: 'per expert: chunkOffsets[c, e] = exclusive scan of chunkCounts over chunks, counts[e] = total, offsets[e] = start row of its ALIGN-padded block (contiguous layout); one workgroup',
    consts: { WG: 256 },
    // One value per target (see the header): the layout's contract with the host, not a tuning choice.
    tunables: { ALIGN: { webgpu: [32], cuda: [128] } },
    workgroup: (c) => [c.WG],
    grid: () => [1],
  },
  (
    chunkCounts: Tensor<i32, ['NC', 'E']>, chunkOffsets: Out<i32, ['NC', 'E']>, counts: Out<i32, ['E']>, offsets: Out<i32, ['E']>,
    c: { NC: i32; E: i32; WG: i32; ALIGN: i32 },
  ) => {
    const sums = shared(i32, c.WG);
    // Thread i owns experts [i*per, (i+1)*per): a scan over chunks for each, then a
    // workgroup scan of the padded block sizes orders the blocks by expert id.
    const per = (c.E + c.WG - 1) / c.WG;
    const e0 = min(localIndex * per, c.E);
    const e1 = min(e0 + per, c.E);
    let padded = 0;
    for (let e = e0; e < e1; e++) {
      let run = 0;
      for (let ch = 0; ch < c.NC; ch++) {
        chunkOffsets[ch][e] = run;
        run += chunkCounts[ch][e];
      }
      counts[e] = run;
      padded += alignUp(run, c.ALIGN);
    }
    // Inclusive Hillis-Steele scan of the per-thread sums.
    sums[localIndex] = padded;
    barrier();
    for (let off = 1; off < c.WG; off *= 2) {
      const add = localIndex >= off ? sums[localIndex - off] : 0;
      barrier();
      sums[localIndex] = sums[localIndex] + add;
      barrier();
    }
    let row = sums[localIndex] - padded;
    for (let e = e0; e < e1; e++) {
      offsets[e] = row;
      row += alignUp(counts[e], c.ALIGN);
    }
  },
);

type PlaceCtx = { T: i32; TOPK: i32; E: i32; MP: i32; CH: i32; ALIGN: i32 };

export const moe_place_contiguous = kernel(
  {
    doc: 'contiguous layout: rowIndex[MP] = slot t*TOPK+j of each permuted row (-1 on padding), rowExpert[MP] (-1 on padding), slotRow[T, TOPK] = row of each slot (-1 if not routed); MP >= T*TOPK + min(E, T*TOPK)*(ALIGN-1)',
    // A smaller MP drops slots (their slotRow is -1) instead of failing.
    requires: (c) => [c.MP >= c.T * c.TOPK + min(c.E, c.T * c.TOPK) * (c.ALIGN - 1)],
    consts: { CH: 256 },
    tunables: { ALIGN: { webgpu: [32], cuda: [128] } },
    workgroup: (c) => [c.CH],
    grid: (c) => [max(cdiv(c.T * c.TOPK, c.CH), 1)],
  },
  (
    ids: Tensor<i32, ['T', 'TOPK']>, chunkOffsets: Tensor<i32, ['cdiv(T * TOPK, CH)', 'E']>, counts: Tensor<i32, ['E']>, offsets: Tensor<i32, ['E']>,
    rowIndex: Out<i32, ['MP']>, rowExpert: Out<i32, ['MP']>, slotRow: Out<i32, ['T', 'TOPK']>,
    c: PlaceCtx,
  ) => {
    const sIds = shared(i32, c.CH);
    const slots = c.T * c.TOPK;
    // Routed slots: one workgroup per chunk.
    for (let chunk = workgroupId.x; chunk < cdiv(slots, c.CH); chunk += numWorkgroups.x) {
      loadChunk(ids, sIds, chunk, slots, c.CH);
      barrier();
      const s = chunk * c.CH + localIndex;
      const e = sIds[localIndex];
      if (s < slots) {
        let row = -1;
        if (e >= 0 && e < c.E) {
          row = offsets[e] + chunkOffsets[chunk][e] + rankInChunk(sIds, e, localIndex);
        }
        if (row >= c.MP) {
          row = -1; // MP too small for this routing: the slot is dropped, never written out of bounds
        }
        slotRow.flat[s] = row;
        if (row >= 0) {
          rowIndex[row] = s;
          rowExpert[row] = e;
        }
      }
      barrier();
    }
    // Padding: the tail of each expert's block, then every row past the last block.
    const stride = numWorkgroups.x * c.CH;
    for (let i = workgroupId.x * c.CH + localIndex; i < c.E * c.ALIGN; i += stride) {
      const e = i / c.ALIGN;
      const row = offsets[e] + counts[e] + i % c.ALIGN;
      if (row < offsets[e] + alignUp(counts[e], c.ALIGN) && row < c.MP) {
        rowIndex[row] = -1;
        rowExpert[row] = -1;
      }
    }
    const total = c.E > 0 ? offsets[c.E - 1] + alignUp(counts[c.E - 1], c.ALIGN) : 0;
    for (let row = total + workgroupId.x * c.CH + localIndex; row < c.MP; row += stride) {
      rowIndex[row] = -1;
      rowExpert[row] = -1;
    }
  },
);

export const moe_place_masked = kernel(
  {
    doc: 'masked layout: rowIndex[E, C] = slot of row j of expert e (-1 past its count), slotRow[T, TOPK] = e*C + j (-1 if not routed or past the capacity C: dropped), maskedCount[E] = min(count, C)',
    consts: { CH: 256 },
    workgroup: (c) => [c.CH],
    grid: (c) => [max(cdiv(c.T * c.TOPK, c.CH), 1)],
  },
  (
    ids: Tensor<i32, ['T', 'TOPK']>, chunkOffsets: Tensor<i32, ['cdiv(T * TOPK, CH)', 'E']>, counts: Tensor<i32, ['E']>,
    rowIndex: Out<i32, ['E', 'C']>, slotRow: Out<i32, ['T', 'TOPK']>, maskedCount: Out<i32, ['E']>,
    c: { T: i32; TOPK: i32; E: i32; C: i32; CH: i32 },
  ) => {
    const sIds = shared(i32, c.CH);
    const slots = c.T * c.TOPK;
    for (let chunk = workgroupId.x; chunk < cdiv(slots, c.CH); chunk += numWorkgroups.x) {
      loadChunk(ids, sIds, chunk, slots, c.CH);
      barrier();
      const s = chunk * c.CH + localIndex;
      const e = sIds[localIndex];
      if (s < slots) {
        let rank = -1;
        if (e >= 0 && e < c.E) {
          rank = chunkOffsets[chunk][e] + rankInChunk(sIds, e, localIndex);
        }
        // Ranks past the capacity are dropped; a kept slot's row is e*C + rank of y[E*C, H].
        const kept = rank >= 0 && rank < c.C;
        slotRow.flat[s] = kept ? e * c.C + rank : -1;
        if (kept) {
          rowIndex[e][rank] = s;
        }
      }
      barrier();
    }
    const stride = numWorkgroups.x * c.CH;
    for (let i = workgroupId.x * c.CH + localIndex; i < c.E * c.C; i += stride) {
      const e = i / c.C;
      const j = i % c.C;
      if (j >= counts[e]) {
        rowIndex[e][j] = -1;
      }
    }
    for (let e = workgroupId.x * c.CH + localIndex; e < c.E; e += stride) {
      maskedCount[e] = min(counts[e], c.C);
    }
  },
);

export const moe_gather = kernel(
  {
    doc: 'xp[r, :] = x[rowIndex[r] / TOPK, :] (zeros where rowIndex[r] < 0); R = MP (contiguous) or E*C (masked); bf16',
    tunables: { WG: [256, 128] },
    requires: (c) => [c.TOPK >= 1],
    workgroup: (c) => [c.WG],
    grid: (c) => [c.R],
  },
  (x: Tensor<bf16, ['T', 'H']>, rowIndex: Tensor<i32, ['R']>, xp: Out<bf16, ['R', 'H']>, c: { T: i32; H: i32; R: i32; TOPK: i32; WG: i32 }) => {
    const r = workgroupId.x;
    const s = rowIndex[r];
    const t = s >= 0 ? s / c.TOPK : 0;
    for (let h = localIndex; h < c.H; h += c.WG) {
      xp[r][h] = s >= 0 ? x[t][h] : bf16(0.0);
    }
  },
);

export const moe_gather_fp8 = kernel(
  {
    doc: 'FP8 activations quantised per token (1x128 groups) gathered like moe_gather: xqp[r, :] = xq[t, :], xsp[r, :] = xs[t, :] for t = rowIndex[r] / TOPK; zeros (and scale 0) on padding',
    tunables: { WG: [256, 128] },
    requires: (c) => [c.TOPK >= 1],
    workgroup: (c) => [c.WG],
    grid: (c) => [c.R],
  },
  (
    xq: Tensor<fp8e4m3, ['T', 'H']>, xs: Tensor<f32, ['T', 'cdiv(H, 128)']>, rowIndex: Tensor<i32, ['R']>,
    xqp: Out<fp8e4m3, ['R', 'H']>, xsp: Out<f32, ['R', 'cdiv(H, 128)']>,
    c: { T: i32; H: i32; R: i32; TOPK: i32; WG: i32 },
  ) => {
    const r = workgroupId.x;
    const s = rowIndex[r];
    const t = s >= 0 ? s / c.TOPK : 0;
    for (let h = localIndex; h < c.H; h += c.WG) {
      xqp[r][h] = s >= 0 ? xq[t][h] : fp8e4m3(0.0);
    }
    for (let g = localIndex; g < cdiv(c.H, 128); g += c.WG) {
      xsp[r][g] = s >= 0 ? xs[t][g] : 0.0;
    }
  },
);
