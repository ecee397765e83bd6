import {
  barrier, bf16, exp, f32, fragment, fragmentMap, localIndex, max, min, mma, mmaTransposedB, shared, storeFragment, F32_MAX,
  type Dim, type Fragment, type i32, type Shared, type Tensor,
} from '../../compiler/dsl/index.js';

/**
 * The decode kernels' attention of one GQA group (ops/attention/decode.ts): the G = HQ/HKV
 * query heads that share KV head kh, times the NQ new tokens, are G*NQ rows; a workgroup
 * takes BR of them (row i = token i / G of head kh*G + i % G) and streams the keys [lo, hi)
 * of kh through shared memory once for all of them, BK keys per tile:
 *   scores  S = Q·Kᵀ on the warp tile MMA, K staged DC head dims at a time (DC < HEAD_QK
 *           keeps WebGPU's tile in 16 KiB; CUDA stages all 192 and Q once);
 *   softmax one thread per row keeps the running max m and sum l in shared memory; the
 *           probabilities are rounded to bf16 once and both P·V and l use the rounded value,
 *           so the output is a weighted mean with weights that sum to l exactly;
 *   values  O += P·V on the MMA, O in registers: warp w owns rows 16*(w/4).. and V columns
 *           32*(w%4) + {0, 16}, so the workgroup is 8*BR threads (BR/4 warps).
 * Row i at position pos sees key j iff j < hi, j <= pos and j > pos - window. Masked
 * scores get probability 0 exactly, so a row that sees no key keeps m0, l0 and O = 0.
 */

/** Compile-time configuration; each decode kernel's context has it. */
export type GroupConfig = { BR: i32; BK: i32; DC: i32; HEAD_QK: i32; HEAD_V: i32; SCALE: f32 };

/**
 * Shared arrays of one workgroup (WebGPU counts every element as 4 bytes): Q chunk BR*DC,
 * one K-or-V stage BK*max(DC, HEAD_V) (K and V are never needed at once), f32 scores BR*64
 * (BK <= 64; also the output staging: 4 warps x 16 columns per row block), bf16 P BR*BK,
 * 3*BR row state (m, l, alpha).
 */
export type GroupWorkspace = {
  Qs: Shared<bf16, [number, number]>;
  stage: Shared<bf16, [number, number]>;
  S: Shared<f32, [number, number]>;
  Pb: Shared<bf16, [number, number]>;
  m: Shared<f32>;
  l: Shared<f32>;
  alpha: Shared<f32>;
};

export function groupWorkspace(c: { BR: i32; BK: i32; DC: i32; HEAD_V: i32 }): GroupWorkspace {
  const Qs = shared(bf16, c.BR, c.DC);
  // Row width max(DC, HEAD_V) in the + - * / a shared size takes: DC / HEAD_V is 1 or 0 since DC <= HEAD_QK < 2 * HEAD_V.
  const stage = shared(bf16, c.BK, c.HEAD_V + (c.DC - c.HEAD_V) * (c.DC / c.HEAD_V));
  const S = shared(f32, c.BR, 64);
  const Pb = shared(bf16, c.BR, c.BK);
  const m = shared(f32, c.BR);
  const l = shared(f32, c.BR);
  const alpha = shared(f32, c.BR);
  return { Qs, stage, S, Pb, m, l, alpha };
}

/** The group's query rows: q[b] of the batch, rows first..first+BR-1 of G*NQ, positions len - NQ + token. */
export type GroupRows = { q: Tensor<bf16, [Dim, Dim, 'HEAD_QK']>; kh: i32; G: i32; NQ: i32; len: i32; first: i32 };
/**
 * Keys [lo, hi) of KV head kh, key j in row j % ring of k/v, visible within `window`. A
 * ring must hold at least BK rows (a tile wraps at most once); a flat cache passes its
 * length, which no key reaches.
 */
export type GroupKeys = { k: Tensor<bf16, [Dim, Dim, 'HEAD_QK']>; v: Tensor<bf16, [Dim, Dim, 'HEAD_V']>; kh: i32; ring: i32; lo: i32; hi: i32; window: i32 };

/** Query head and token of tile row r, and whether the row is one of the G*NQ. */
export function rowOf(rows: GroupRows, r: i32): { h: i32; t: i32; valid: boolean } {
  const i = rows.first + r;
  return { h: rows.kh * rows.G + (i % rows.G), t: i / rows.G, valid: i < rows.G * rows.NQ };
}

/** Positions of the tile's last valid row + 1: no key at or past it is visible to any row. */
export function rowsEnd(rows: GroupRows, c: { BR: i32 }): i32 {
  const last = min(rows.first + c.BR, rows.G * rows.NQ) - 1;
  return rows.len - rows.NQ + last / rows.G + 1;
}

/** Position of the tile's first row (the earliest any row sits). */
export function rowsStart(rows: GroupRows): i32 {
  return rows.len - rows.NQ + rows.first / rows.G;
}

/**
 * Accumulates the warp's two O fragments (oa, ob: columns oCol and oCol + 16) over every
 * key tile, unnormalised, from the row state the kernel put in ws.m and ws.l (a sink s:
 * m = s, l = 1; none: m = -F32_MAX, l = 0). Ends with a barrier: m and l are visible to all.
 */
export function attendGroup(ws: GroupWorkspace, rows: GroupRows, keys: GroupKeys, oa: Fragment, ob: Fragment, c: GroupConfig): void {
  const warp = localIndex / 32;
  if (c.DC === c.HEAD_QK) stageQ(ws, rows, 0, c);
  // One S fragment per warp; with fewer fragments than warps (BK < 64) the spare warps repeat the last one.
  const fi = min(warp, (c.BR / 16) * (c.BK / 16) - 1);
  const sRow = (fi / (c.BK / 16)) * 16;
  const sKey = (fi % (c.BK / 16)) * 16;
  const oRow = (warp / 4) * 16;
  const oCol = (warp % 4) * 32;
  const KW = c.HEAD_V + (c.DC - c.HEAD_V) * (c.DC / c.HEAD_V);
  for (let k0 = keys.lo; k0 < keys.hi; k0 += c.BK) {
    const s = fragment();
    for (let d0 = 0; d0 < c.HEAD_QK; d0 += c.DC) {
      // The previous chunk's (or tile's V) readers are done before the stage is overwritten.
      barrier();
      if (c.DC < c.HEAD_QK) stageQ(ws, rows, d0, c);
      stageKeys(ws.stage, keys.k, keys, k0, d0, c.DC, c);
      barrier();
      for (let kk = 0; kk < c.DC; kk += 16) {
        mmaTransposedB(s, ws.Qs.flat, sRow * c.DC + kk, c.DC, ws.stage.flat, sKey * KW + kk, KW);
      }
    }
    storeFragment(s, ws.S.flat, sRow * 64 + sKey, 64);
    barrier();
    softmaxTile(ws, rows, keys, k0, c);
    stageKeys(ws.stage, keys.v, keys, k0, 0, c.HEAD_V, c);
    barrier();
    rescale(oa, ws, oRow);
    rescale(ob, ws, oRow);
    for (let kk = 0; kk < c.BK; kk += 16) {
      mma(oa, ws.Pb.flat, oRow * c.BK + kk, c.BK, ws.stage.flat, kk * KW + oCol, KW);
      mma(ob, ws.Pb.flat, oRow * c.BK + kk, c.BK, ws.stage.flat, kk * KW + oCol + 16, KW);
    }
  }
  barrier();
}

/** Qs[r][d] = q row r's dims d0..d0+DC-1, zero for rows past G*NQ. */
function stageQ(ws: GroupWorkspace, rows: GroupRows, d0: i32, c: { BR: i32; DC: i32; HEAD_V: i32 }): void {
  for (let i = localIndex; i < c.BR * c.DC; i += c.BR * 8) {
    const r = i / c.DC;
    const d = i % c.DC;
    const row = rowOf(rows, r);
    ws.Qs[r][d] = row.valid ? rows.q[row.t][row.h][d0 + d] : bf16(0.0);
  }
}

/**
 * stage[jj][d] = src[(k0 + jj) % ring][kh][d0 + d] for d < width, zero past hi: a zero V row
 * times probability 0 stays 0, where a stale row (NaN, inf) would not.
 */
function stageKeys(stage: Shared<bf16, [number, number]>, src: Tensor<bf16, [Dim, Dim, Dim]>, keys: GroupKeys, k0: i32, d0: i32, width: i32, c: { BR: i32; BK: i32 }): void {
  // One division per tile, then a wrap test: BK <= ring, so a tile wraps at most once.
  const first = k0 % keys.ring;
  for (let i = localIndex; i < c.BK * width; i += c.BR * 8) {
    const jj = i / width;
    const d = i % width;
    const row = first + jj - (first + jj >= keys.ring ? keys.ring : 0);
    stage[jj][d] = k0 + jj < keys.hi ? src[row][keys.kh][d0 + d] : bf16(0.0);
  }
}

/**
 * Scales and masks the tile's scores, then per row: m_new = max(m, tile max), alpha =
 * e^(m - m_new), P = bf16(e^(s - m_new)) (0 where masked), l = l*alpha + sum P.
 */
function softmaxTile(ws: GroupWorkspace, rows: GroupRows, keys: GroupKeys, k0: i32, c: GroupConfig): void {
  for (let i = localIndex; i < c.BR * c.BK; i += c.BR * 8) {
    const r = i / c.BK;
    const jj = i % c.BK;
    const row = rowOf(rows, r);
    const pos = rows.len - rows.NQ + row.t;
    const j = k0 + jj;
    const visible = row.valid && j < keys.hi && j <= pos && j > pos - keys.window;
    ws.S[r][jj] = visible ? ws.S[r][jj] * c.SCALE : -F32_MAX;
  }
  barrier();
  if (localIndex < c.BR) {
    let tileMax = -F32_MAX;
    for (let j = 0; j < c.BK; j++) tileMax = max(tileMax, ws.S[localIndex][j]);
    const m = ws.m[localIndex];
    const mNew = max(m, tileMax);
    ws.m[localIndex] = mNew;
    ws.alpha[localIndex] = exp(m - mNew);
  }
  barrier();
  for (let i = localIndex; i < c.BR * c.BK; i += c.BR * 8) {
    const r = i / c.BK;
    const jj = i % c.BK;
    const s = ws.S[r][jj];
    const p = bf16(s > -F32_MAX ? exp(s - ws.m[r]) : 0.0);
    ws.Pb[r][jj] = p;
    ws.S[r][jj] = f32(p);
  }
  barrier();
  if (localIndex < c.BR) {
    let sum = 0.0;
    for (let j = 0; j < c.BK; j++) sum += ws.S[localIndex][j];
    ws.l[localIndex] = ws.l[localIndex] * ws.alpha[localIndex] + sum;
  }
}

/** o *= alpha per row (o's rows are rows oRow.. of the tile). */
function rescale(o: Fragment, ws: GroupWorkspace, oRow: i32): void {
  fragmentMap(o, (x, row) => x * ws.alpha[oRow + row]);
}

/**
 * Puts the warp's output fragment `o` (its columns oCol or oCol + 16, half = 0 or 1) in S
 * as [BR][64]: column x of S is V dim outputDim(x, half). S is free after attendGroup's last barrier.
 */
export function stageOutput(ws: GroupWorkspace, o: Fragment): void {
  const warp = localIndex / 32;
  storeFragment(o, ws.S.flat, (warp / 4) * 16 * 64 + (warp % 4) * 16, 64);
  barrier();
}

/** The V dim that column x of the staged output holds. */
export function outputDim(x: i32, half: i32): i32 {
  return (x / 16) * 32 + half * 16 + (x % 16);
}
