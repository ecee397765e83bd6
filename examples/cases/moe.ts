/**
 * MoE kernels (ops/moe): the router at the model's E = 256, top-8; then, on one routing of
 * T = 40 tokens to TOPK = 4 of E = 16 experts (H = 256, F = 128), the permutation chain
 * (count, scan, place in both layouts), the gathers, the grouped GEMMs of both layouts and
 * precisions, and the combine. Every kernel gets its inputs from the host reference, not
 * from the kernel before it, so each line judges one kernel. References, inputs and launch
 * arguments: test/harness/moe-reference.ts and test/harness/router-reference.ts.
 *
 * Tolerances (test/moe-router.test.ts, test/moe.test.ts):
 *   router        ids exact, weights rtol = 1e-5
 *   permutation   exact: counts, offsets, row maps; gathered rows and scales bit for bit
 *   bf16 GEMMs    rtol = atol = 1e-2 on the rows each layout owns (one bf16 rounding); combine too
 *   FP8 GEMMs     DeepGEMM's 1 - 2Σxy/Σ(x²+y²) < 1e-3 against float64 on the dequantised inputs
 */
import { packArray, unpackArray } from '../../compiler/ir/numerics.js';
import { moeDims, scaleGroups } from '../../ops/moe/shapes.js';
import type { Tolerance } from '../../test/harness/close.js';
import {
  alignOf, capacity, chunkRef, combineRef, downBf16Launch, downFp8Launch, downRef, expertWeights, gateUpBf16Launch, gateUpFp8Launch, gatherRef, gluRef,
  pickRows, quantRows, quantWeights, routeRef, routing, type GemmRows, type MoeCase,
} from '../../test/harness/moe-reference.js';
import { routerInputs, routerRef } from '../../test/harness/router-reference.js';
import { uniform } from '../../test/harness/prng.js';
import { close, exact, floats, launch, launchOn, once, perBackend, similar, type Case, type Verdict } from './check.js';
import type { Backend } from '../../test/harness/backends.js';

const BF16_TOL: Tolerance = { rtol: 1e-2, atol: 1e-2 };
const ROUTER_WEIGHTS: Tolerance = { rtol: 1e-5, atol: 0 };
const FP8_DIFF = 1e-3;
const MOE: MoeCase = { T: 40, TOPK: 4, E: 16, H: 256, F: 128, mode: 'random', seed: 71 };

const bf16 = (v: ArrayLike<number>) => unpackArray('bf16', packArray('bf16', v));
/** Output buffers start as garbage, so every element a kernel owns must be written. */
const junk = (n: number) => new Int32Array(n).fill(-7);
const shape = `T=${MOE.T} k=${MOE.TOPK} E=${MOE.E}`;

function routerCase(): Case {
  const [T, E, TOPK] = [16, 256, 8];
  const { logits, bias } = routerInputs(81, T, E, TOPK);
  const ref = routerRef(logits, bias, T, E, TOPK);
  return launch('moe_router', `T=${T} E=${E} k=${TOPK}`, () => ({ tensors: { logits, bias, ids: junk(T * TOPK), weights: new Float32Array(T * TOPK).fill(NaN) }, scalars: { T, E, TOPK } }),
    (o) => ({ ids: exact(o.ids, ref.ids), weights: close(floats(o.weights), ref.weights, ROUTER_WEIGHTS) }));
}

/** One layout's permuted rows: the GEMMs' row layout, its activations and each row's expert (-1: padding). */
interface Rows { readonly L: GemmRows; readonly xRows: Float64Array; readonly expertOf: (r: number) => number }

/**
 * Grouped GEMMs of one layout: gate/up+SwiGLU and down, bf16 and FP8; the down GEMMs read the
 * reference h (bf16). The contiguous layout's rows depend on the backend (ALIGN is one value
 * per target), so inputs and references are built per backend, on first use.
 */
function gemmCases(layout: GemmRows['layout'], rowsOn: (b: Backend) => Rows, wts: { wg: Float32Array; wu: Float32Array; wd: Float32Array }): Case[] {
  const { E, H, F } = MOE;
  const rowsShape = `${shape} ${layout === 'contig' ? 'contiguous' : 'masked'} H=${H} F=${F}`;
  const qw = once(() => quantWeights(wts, E, H, F));
  const on = perBackend((b) => {
    const { L, xRows, expertOf } = rowsOn(b);
    const own = (r: number) => expertOf(r) >= 0;
    const hIn = bf16(gluRef(xRows, wts.wg, wts.wu, expertOf, L.rows, F, H));
    const xq = quantRows(xRows, L.rows, H);
    const hq = quantRows(hIn, L.rows, F);
    const ref = (f: () => Float64Array, N: number) => once(() => pickRows(f(), N, own));
    return {
      own,
      launches: [gateUpBf16Launch(L, xRows, wts, MOE), downBf16Launch(L, hIn, wts, MOE), gateUpFp8Launch(L, xq.q, xq.s, qw(), MOE), downFp8Launch(L, hq, qw(), MOE)],
      refs: [
        ref(() => gluRef(xRows, wts.wg, wts.wu, expertOf, L.rows, F, H), F), ref(() => downRef(hIn, wts.wd, expertOf, L.rows, H, F), H),
        ref(() => gluRef(xq.deq, qw().wg.deq, qw().wu.deq, expertOf, L.rows, F, H), F), ref(() => downRef(hq.deq, qw().wd.deq, expertOf, L.rows, H, F), H),
      ],
    };
  });
  const sfx = layout === 'contig' ? '' : '_masked';
  const gemm = (i: number, name: string, out: 'h' | 'y', judge: (got: number[], want: number[]) => Verdict): Case =>
    launchOn(`${name}${sfx}`, rowsShape, (b) => on(b).launches[i][1], (o, b) => ({ [out]: judge(pickRows(floats(o[out]), out === 'h' ? F : H, on(b).own), on(b).refs[i]()) }));
  return [
    gemm(0, 'moe_gate_up_bf16', 'h', (got, want) => close(got, want, BF16_TOL)),
    gemm(1, 'moe_down_bf16', 'y', (got, want) => close(got, want, BF16_TOL)),
    gemm(2, 'moe_gate_up_fp8', 'h', (got, want) => similar(got, want, FP8_DIFF)),
    gemm(3, 'moe_down_fp8', 'y', (got, want) => similar(got, want, FP8_DIFF)),
  ];
}

export function moeCases(): Case[] {
  const { T, TOPK, E, H, F } = MOE;
  const { ids, w } = routing(MOE);
  const C = capacity(ids, T, TOPK, E); // the masked layout's capacity: the busiest expert's count, nothing dropped
  // The contiguous layout at each backend's ALIGN; the counts and the masked layout do not depend on it.
  const contig = perBackend((b) => {
    const ref = routeRef(ids, T, TOPK, E, C, alignOf(b));
    return { ref, MP: moeDims(T, TOPK, E, alignOf(b)).MP };
  });
  const ref = routeRef(ids, T, TOPK, E, C, 1);
  const { NC } = moeDims(T, TOPK, E, 1);
  const chunks = chunkRef(ids, T, TOPK, E);
  const HG = scaleGroups(H);
  const x = bf16(uniform(72, T * H, -1, 1));
  const xq = quantRows(x, T, H);
  const wts = { wg: expertWeights(73, E, F, H), wu: expertWeights(74, E, F, H), wd: expertWeights(75, E, H, F) };
  const y = perBackend((b) => bf16(uniform(76, contig(b).MP * H, -2, 2)));
  const masked: GemmRows = { layout: 'masked', rows: E * C, tag: ref.maskedCount, C };
  return [
    routerCase(),
    launch('moe_count', `${shape} NC=${NC}`, () => ({ tensors: { ids, chunkCounts: junk(NC * E) }, scalars: { T, TOPK, E } }),
      (o) => ({ chunkCounts: exact(o.chunkCounts, chunks.chunkCounts) })),
    launch('moe_scan', `NC=${NC} E=${E}`, () => ({ tensors: { chunkCounts: chunks.chunkCounts, chunkOffsets: junk(NC * E), counts: junk(E), offsets: junk(E) }, scalars: { NC, E } }),
      (o, b) => ({ chunkOffsets: exact(o.chunkOffsets, chunks.chunkOffsets), counts: exact(o.counts, ref.counts), offsets: exact(o.offsets, contig(b).ref.offsets) })),
    launchOn('moe_place_contiguous', shape, (b) => ({
      tensors: { ids, chunkOffsets: chunks.chunkOffsets, counts: ref.counts, offsets: contig(b).ref.offsets, rowIndex: junk(contig(b).MP), rowExpert: junk(contig(b).MP), slotRow: junk(T * TOPK) },
      scalars: { T, TOPK, E, MP: contig(b).MP },
    }), (o, b) => ({ rowIndex: exact(o.rowIndex, contig(b).ref.rowIndex), rowExpert: exact(o.rowExpert, contig(b).ref.rowExpert), slotRow: exact(o.slotRow, contig(b).ref.slotRow) })),
    launch('moe_place_masked', `${shape} C=${C}`, () => ({
      tensors: { ids, chunkOffsets: chunks.chunkOffsets, counts: ref.counts, rowIndex: junk(E * C), slotRow: junk(T * TOPK), maskedCount: junk(E) },
      scalars: { T, TOPK, E, C },
    }), (o) => ({ rowIndex: exact(o.rowIndex, ref.rowIndexM), slotRow: exact(o.slotRow, ref.slotRowM), maskedCount: exact(o.maskedCount, ref.maskedCount) })),
    launchOn('moe_gather', `${shape} H=${H}`, (b) => ({ tensors: { x: packArray('bf16', x), rowIndex: contig(b).ref.rowIndex, xp: new Uint16Array(contig(b).MP * H).fill(0x7fc0) }, scalars: { T, H, R: contig(b).MP, TOPK } }),
      (o, b) => ({ xp: exact(floats(o.xp), gatherRef(x, contig(b).ref.rowIndex, TOPK, H)) })),
    launch('moe_gather_fp8', `${shape} R=${E * C} H=${H}`, () => ({
      tensors: { xq: xq.q, xs: xq.s, rowIndex: ref.rowIndexM, xqp: new Uint8Array(E * C * H).fill(0x7f), xsp: new Float32Array(E * C * HG).fill(NaN) },
      scalars: { T, H, R: E * C, TOPK },
    }), (o) => ({ xqp: exact(o.xqp, gatherRef(xq.q, ref.rowIndexM, TOPK, H)), xsp: exact(o.xsp, gatherRef(xq.s, ref.rowIndexM, TOPK, HG)) })),
    ...gemmCases('contig', (b) => {
      const r = contig(b).ref;
      return { L: { layout: 'contig', rows: contig(b).MP, tag: r.rowExpert, C: 0 }, xRows: gatherRef(x, r.rowIndex, TOPK, H), expertOf: (row) => r.rowExpert[row] };
    }, wts),
    ...gemmCases('masked', () => ({ L: masked, xRows: gatherRef(x, ref.rowIndexM, TOPK, H), expertOf: (r) => (ref.rowIndexM[r] >= 0 ? Math.floor(r / C) : -1) }), wts),
    launchOn('moe_combine', `${shape} H=${H}`, (b) => ({ tensors: { y: packArray('bf16', y(b)), slotRow: contig(b).ref.slotRow, w, out: new Uint16Array(T * H) }, scalars: { R: contig(b).MP, H, T, TOPK } }),
      (o, b) => ({ out: close(floats(o.out), combineRef(y(b), contig(b).ref.slotRow, w, T, TOPK, H), BF16_TOL) })),
  ];
}
