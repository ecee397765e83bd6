import {
  barrier, bf16, copyTile, exp2, f32, fragment, fragmentMap, fragmentRowMax, fragmentRowSum, localIndex, max, mmaFragment, mmaTransposedB,
  min, rowMap, rowVector, shared, storeFragment, toOperand, F32_MAX, LOG2E,
  type Dim, type Fragment, type i32, type Out, type Shared, type Tensor,
} from '../../compiler/dsl/index.js';

/**
 * FlashAttention-2 on the warp tile MMA, for the prefill kernels (ops/attention/prefill.ts).
 *
 * A workgroup of BQ/16 warps attends BQ query rows of one query head at consecutive
 * positions pos0, pos0+1, ... (row r valid iff r < nRows) to the keys [lo, hi) of one KV
 * head; warp w owns rows 16w..16w+15 and everything about them lives in its registers:
 *   scores   S (16 rows x 16 keys) = Q·Kᵀ with mmaTransposedB over HEAD_QK in 16-deep steps,
 *            Q and K staged in shared memory as bf16, DC head dims at a time;
 *   softmax  in log2 units (scores times SCALE log2 e, one exp2 per probability); the running
 *            max m and sum l are row vectors; masks go by fragment coordinates;
 *            P = exp2(S - m) is rounded to bf16 in registers (toOperand);
 *   values   O (16 x HEAD_V, HEAD_V/16 = 8 fragments) += P·V with mmaFragment from a V tile
 *            staged [keys][HEAD_V] (ldmatrix.trans on CUDA), rescaled by alpha per 16 keys.
 * Key tiles of BK keys are staged once for all warps. CUDA stages Q once and whole K rows
 * (DC = HEAD_QK); WebGPU's 16 KiB of workgroup memory (4 B per element) takes Q and K in
 * DC-wide chunks per 16-key tile (BK = 16), restaging the Q chunk each time.
 * Key j of a row at position pos is visible iff j < hi, j <= pos and j > pos - window.
 * Masked scores are -F32_MAX and get probability 0 exactly, so a row that sees no key keeps
 * m, l at their initial values and ends as zeros, never NaN.
 */

/** Compile-time configuration; both prefill kernels' contexts have it. */
export type FlashConfig = { BQ: i32; BK: i32; DC: i32; HEAD_QK: i32; HEAD_V: i32; SCALE: f32 };

/** Shared arrays of one workgroup. */
export type FlashWorkspace = {
  /** Q rows of the block, dims d0..d0+DC-1 of the current chunk (all of them when DC = HEAD_QK). */
  Qs: Shared<bf16, [number, number]>;
  Ks: Shared<bf16, [number, number]>;
  Vs: Shared<bf16, [number, number]>;
  /** One 16x16 f32 tile per warp: the output leaves through it, fragment by fragment. */
  Os: Shared<f32, [number, number]>;
};

/** BQ*DC + BK*DC + BK*HEAD_V bf16 and 16*BQ f32 elements: 48 KiB for CUDA's BQ=64, BK=32, DC=192. */
export function flashWorkspace(c: { BQ: i32; BK: i32; DC: i32; HEAD_V: i32 }): FlashWorkspace {
  const Qs = shared(bf16, c.BQ, c.DC);
  const Ks = shared(bf16, c.BK, c.DC);
  const Vs = shared(bf16, c.BK, c.HEAD_V);
  const Os = shared(f32, c.BQ / 16, 256);
  return { Qs, Ks, Vs, Os };
}

/** Key j is k/v[keyBase + j][kh] (a flat, per-sequence layout). */
export type FlashKeys = { k: Tensor<bf16, [Dim, Dim, 'HEAD_QK']>; v: Tensor<bf16, [Dim, Dim, 'HEAD_V']>; kh: i32; keyBase: i32 };

/**
 * One workgroup's rows: q/out[first + r][h] for r < nRows at position pos0 + r, attending
 * the keys [lo, hi) of which those within `window` positions back are visible.
 */
export type FlashBlock = { first: i32; h: i32; nRows: i32; pos0: i32; lo: i32; hi: i32; window: i32 };

/**
 * The block's attention, from the state m = m0, l = l0, O = 0 (a sink logit s: m0 = s,
 * l0 = 1; no sink: m0 = -F32_MAX, l0 = 0), normalised and stored to out as bf16.
 */
export function flashAttend(
  ws: FlashWorkspace, q: Tensor<bf16, [Dim, Dim, 'HEAD_QK']>, keys: FlashKeys, blk: FlashBlock, m0: f32, l0: f32,
  out: Out<bf16, [Dim, Dim, 'HEAD_V']>, c: FlashConfig,
): void {
  const r0 = (localIndex / 32) * 16;
  // The running max in log2 units; -F32_MAX (no sink) stays -F32_MAX.
  const m = rowVector(max(-F32_MAX, min(F32_MAX, m0 * LOG2E)));
  const l = rowVector(l0);
  const o0 = fragment();
  const o1 = fragment();
  const o2 = fragment();
  const o3 = fragment();
  const o4 = fragment();
  const o5 = fragment();
  const o6 = fragment();
  const o7 = fragment();
  if (c.DC === c.HEAD_QK) stageQ(ws, q, blk, 0, c);
  for (let k0 = blk.lo; k0 < blk.hi; k0 += c.BK) {
    if (c.DC === c.HEAD_QK) {
      // The previous tile's readers are done before its K and V are overwritten.
      barrier();
      stageKeys(ws.Ks, keys.k, keys, blk, { k0: k0, d0: 0, cols: c.HEAD_QK });
      stageKeys(ws.Vs, keys.v, keys, blk, { k0: k0, d0: 0, cols: c.HEAD_V });
      barrier();
    }
    for (let kk = 0; kk < c.BK; kk += 16) {
      const s = fragment();
      for (let d0 = 0; d0 < c.HEAD_QK; d0 += c.DC) {
        if (c.DC < c.HEAD_QK) {
          barrier();
          stageQ(ws, q, blk, d0, c);
          stageKeys(ws.Ks, keys.k, keys, blk, { k0: k0, d0: d0, cols: c.HEAD_QK });
          barrier();
        }
        for (let d = 0; d < c.DC; d += 16) mmaTransposedB(s, ws.Qs.flat, r0 * c.DC + d, c.DC, ws.Ks.flat, kk * c.DC + d, c.DC);
      }
      if (c.DC < c.HEAD_QK) {
        // Vs's last readers passed the first chunk's barrier above.
        stageKeys(ws.Vs, keys.v, keys, blk, { k0: k0, d0: 0, cols: c.HEAD_V });
        barrier();
      }
      const j0 = k0 + kk;
      // Scores in log2 units (x * SCALE * log2 e), so that each probability is one exp2.
      // Keys every row of the block sees need no mask (a uniform test: all warps take one side).
      if (j0 + 15 < blk.hi && j0 + 15 <= blk.pos0 && j0 > blk.pos0 + c.BQ - 1 - blk.window) {
        fragmentMap(s, (x) => x * (c.SCALE * LOG2E));
      } else {
        fragmentMap(s, (x, row, col) => (visible(blk, j0 + col, blk.pos0 + r0 + row) ? x * (c.SCALE * LOG2E) : -F32_MAX));
      }
      const tileMax = fragmentRowMax(s);
      const mNew = rowVector(0);
      rowMap(mNew, (x, row) => max(m[row], tileMax[row]));
      // A row that has seen no key subtracts 0, so its masked -F32_MAX scores still give
      // exp2 = 0; any other row's maximum is a score or the sink, far above -F32_MAX.
      const mOff = rowVector(0);
      rowMap(mOff, (x, row) => (mNew[row] > -F32_MAX ? mNew[row] : 0.0));
      const alpha = rowVector(0);
      rowMap(alpha, (x, row) => exp2(m[row] - mOff[row]));
      fragmentMap(s, (x, row) => exp2(x - mOff[row]));
      const tileSum = fragmentRowSum(s);
      rowMap(l, (x, row) => x * alpha[row] + tileSum[row]);
      rowMap(m, (x, row) => mNew[row]);
      const p = toOperand(s, bf16);
      // O = O * alpha + P·V, one 16-column fragment at a time (helpers cannot take p or alpha).
      fragmentMap(o0, (x, row) => x * alpha[row]);
      fragmentMap(o1, (x, row) => x * alpha[row]);
      fragmentMap(o2, (x, row) => x * alpha[row]);
      fragmentMap(o3, (x, row) => x * alpha[row]);
      fragmentMap(o4, (x, row) => x * alpha[row]);
      fragmentMap(o5, (x, row) => x * alpha[row]);
      fragmentMap(o6, (x, row) => x * alpha[row]);
      fragmentMap(o7, (x, row) => x * alpha[row]);
      const vAt = kk * c.HEAD_V;
      mmaFragment(o0, p, ws.Vs.flat, vAt, c.HEAD_V);
      mmaFragment(o1, p, ws.Vs.flat, vAt + 16, c.HEAD_V);
      mmaFragment(o2, p, ws.Vs.flat, vAt + 32, c.HEAD_V);
      mmaFragment(o3, p, ws.Vs.flat, vAt + 48, c.HEAD_V);
      mmaFragment(o4, p, ws.Vs.flat, vAt + 64, c.HEAD_V);
      mmaFragment(o5, p, ws.Vs.flat, vAt + 80, c.HEAD_V);
      mmaFragment(o6, p, ws.Vs.flat, vAt + 96, c.HEAD_V);
      mmaFragment(o7, p, ws.Vs.flat, vAt + 112, c.HEAD_V);
    }
  }
  // O / l, 0 for a row that saw nothing (l = 0).
  fragmentMap(o0, (x, row) => (l[row] > 0.0 ? x / l[row] : 0.0));
  fragmentMap(o1, (x, row) => (l[row] > 0.0 ? x / l[row] : 0.0));
  fragmentMap(o2, (x, row) => (l[row] > 0.0 ? x / l[row] : 0.0));
  fragmentMap(o3, (x, row) => (l[row] > 0.0 ? x / l[row] : 0.0));
  fragmentMap(o4, (x, row) => (l[row] > 0.0 ? x / l[row] : 0.0));
  fragmentMap(o5, (x, row) => (l[row] > 0.0 ? x / l[row] : 0.0));
  fragmentMap(o6, (x, row) => (l[row] > 0.0 ? x / l[row] : 0.0));
  fragmentMap(o7, (x, row) => (l[row] > 0.0 ? x / l[row] : 0.0));
  store(o0, ws, out, blk, 0);
  store(o1, ws, out, blk, 16);
  store(o2, ws, out, blk, 32);
  store(o3, ws, out, blk, 48);
  store(o4, ws, out, blk, 64);
  store(o5, ws, out, blk, 80);
  store(o6, ws, out, blk, 96);
  store(o7, ws, out, blk, 112);
}

function visible(blk: FlashBlock, key: i32, pos: i32): boolean {
  return key < blk.hi && key <= pos && key > pos - blk.window;
}

/**
 * Qs[r][d] = q row r's dims d0..d0+DC-1, zero for rows past nRows. Staging is copyTile from
 * the 3-D tensors at a fixed head (CUDA: 16-byte cp.async with zero-fill; WGSL: word copies).
 */
function stageQ(ws: FlashWorkspace, q: Tensor<bf16, [Dim, Dim, 'HEAD_QK']>, blk: FlashBlock, d0: i32, c: { HEAD_QK: i32 }): void {
  copyTile(ws.Qs, q, { r0: blk.first, mid: blk.h, c0: d0, rows: blk.first + blk.nRows, cols: c.HEAD_QK });
}

/**
 * dst[jj][d] = src[keyBase + k0 + jj][kh][d0 + d] (rows of `cols` dims), zero past hi: a
 * zero V row times probability 0 stays 0, where a stale row (NaN, inf) would not.
 */
function stageKeys(dst: Shared<bf16, [number, number]>, src: Tensor<bf16, [Dim, Dim, Dim]>, keys: FlashKeys, blk: FlashBlock, at: { k0: i32; d0: i32; cols: i32 }): void {
  copyTile(dst, src, { r0: keys.keyBase + at.k0, mid: keys.kh, c0: at.d0, rows: keys.keyBase + blk.hi, cols: at.cols });
}

/** out[first + r0 + row][h][col0 + col] = o for the warp's valid rows, through Os. */
function store(o: Fragment, ws: FlashWorkspace, out: Out<bf16, [Dim, Dim, 'HEAD_V']>, blk: FlashBlock, col0: i32): void {
  const warp = localIndex / 32;
  storeFragment(o, ws.Os.flat, warp * 256, 16);
  barrier();
  for (let i = localIndex % 32; i < 256; i += 32) {
    const r = warp * 16 + i / 16;
    if (r < blk.nRows) out[blk.first + r][blk.h][col0 + (i % 16)] = bf16(ws.Os[warp][i]);
  }
  barrier();
}
