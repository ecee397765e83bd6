import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { unpackArray } from '../compiler/ir/numerics.js';
import { loadKernels } from '../compiler/compile.js';
import type { HostArray } from '../compiler/launch/args.js';
import { BACKENDS, runKernel, type Backend } from './harness/backends.js';
import { assertClose, type Tolerance } from './harness/close.js';
import { uniform } from './harness/prng.js';
import {
  capacity, combineRef, downBf16Launch, downFp8Launch, downRef, expertWeights as weights, fp8Diff, gateUpBf16Launch, gateUpFp8Launch, gatherRef, gluRef,
  alignOf, moeLayerFp8Ref, moeLayerRef, pickRows, quantRows, quantWeights, routeRef, routing, type GemmRows, type MoeCase as Case, type Quantised, type QuantWeights,
} from './harness/moe-reference.js';
import { MOE_ALIGN, MOE_CHUNK, moeDims, scaleGroups } from '../ops/moe/shapes.js';
import { bf16, bf16Bits, nanBf16 } from './harness/bf16.js';

/**
 * The MoE kernels (ops/moe/*) on every backend against exact and float64 references:
 *   - permutation (counts, offsets, both layouts, gathered rows): exact, bit for bit;
 *   - grouped GEMMs, gate/up+SwiGLU and down, both layouts: BF16 with rtol = atol = 1e-2
 *     (one bf16 rounding of the output is 2^-9 relative; f32 accumulation adds far less);
 *     FP8 with DeepGEMM's measure 1 - 2Σxy/Σ(x²+y²) < 1e-3 against the float64 result of
 *     the dequantised inputs (what the kernels are given; measured ~2e-6: fp8 products are
 *     exact, only f32 sums and the bf16 output round). Against the *unquantised* inputs (DeepGEMM's own
 *     check) one GEMM (down) also stays < 1e-3, but e4m3's own rounding (relative rms
 *     ~2.6%, diff ~σ² per quantised GEMM) adds up where several quantised GEMMs meet:
 *     gate/up+SwiGLU multiplies two (measured 1.2-1.35e-3, bound 2e-3) and the layer
 *     chains three with h re-quantised (measured ~1.9e-3, bound 3e-3);
 *   - combine: rtol = atol = 1e-2 (bf16 output);
 *   - a whole MoE layer (permute -> gate/up -> down -> combine) and the dense FFN path.
 * Inputs are bf16-representable, so BF16 references see exactly what the kernels see.
 * Shapes are odd on purpose: 1, 3, 37, 300 tokens, experts without tokens, every slot on
 * one expert, H and F that are not multiples of 128 (partial FP8 blocks) and not of the
 * tiles. The interpreter gets the small cases only (it is ~100x slower than SwiftShader).
 * MOE_LOG=1 prints every FP8 similarity value.
 */
const BF16_TOL: Tolerance = { rtol: 1e-2, atol: 1e-2 };
/** DeepGEMM's bound, against float64 on the dequantised inputs (and for one GEMM on the unquantised ones). */
const FP8_DIFF = 1e-3;
/** Against unquantised inputs where two (gate/up + SwiGLU) or three (layer) quantised GEMMs compound. */
const FP8_DIFF_GLU_VS_UNQUANTISED = 2e-3;
const FP8_DIFF_LAYER_VS_UNQUANTISED = 3e-3;

const unbf = (a: HostArray) => unpackArray('bf16', a as Uint16Array);

const name = (c: Case) => `T=${c.T} k=${c.TOPK} E=${c.E} H=${c.H} F=${c.F} ${c.mode}`;

const ints = (a: HostArray) => Array.from(a as Int32Array);

/** permute chain: count -> scan -> place (contiguous and masked) on one backend. */
async function permute(backend: Backend, ids: Int32Array, T: number, TOPK: number, E: number, C: number) {
  const { NC, MP } = moeDims(T, TOPK, E, alignOf(backend));
  const { chunkCounts } = await runKernel(backend, 'moe_count', { tensors: { ids, chunkCounts: new Int32Array(NC * E) }, scalars: { T, TOPK, E } });
  const scan = await runKernel(backend, 'moe_scan', {
    tensors: { chunkCounts, chunkOffsets: new Int32Array(NC * E), counts: new Int32Array(E), offsets: new Int32Array(E) },
    scalars: { NC, E },
  });
  // Outputs start as garbage so that every element the kernels own must be written.
  const junk = (n: number) => new Int32Array(n).fill(-7);
  const contig = await runKernel(backend, 'moe_place_contiguous', {
    tensors: { ids, chunkOffsets: scan.chunkOffsets, counts: scan.counts, offsets: scan.offsets, rowIndex: junk(MP), rowExpert: junk(MP), slotRow: junk(T * TOPK) },
    scalars: { T, TOPK, E, MP },
  });
  const masked = await runKernel(backend, 'moe_place_masked', {
    tensors: { ids, chunkOffsets: scan.chunkOffsets, counts: scan.counts, rowIndex: junk(E * C), slotRow: junk(T * TOPK), maskedCount: junk(E) },
    scalars: { T, TOPK, E, C },
  });
  return { MP, NC, counts: scan.counts, offsets: scan.offsets, contig, masked };
}

/** Runs the gate/up and down GEMMs of one layout and precision; returns h and y as float arrays. */
async function gemms(
  backend: Backend, layout: 'contig' | 'masked', precision: 'bf16' | 'fp8', c: Case, rows: number,
  xRows: Float32Array | Float64Array, rowTag: Int32Array, wts: { wg: Float32Array; wu: Float32Array; wd: Float32Array },
  C: number, hForDown?: ArrayLike<number>,
): Promise<{ h: Float32Array; y: Float32Array; hIn: ArrayLike<number>; xq?: Quantised; hq?: Quantised; qw?: QuantWeights }> {
  const { E, H, F } = c;
  const L: GemmRows = { layout, rows, tag: rowTag, C };
  if (precision === 'bf16') {
    const g = await runKernel(backend, ...gateUpBf16Launch(L, xRows, wts, c));
    const hIn = hForDown ?? unbf(g.h);
    const d = await runKernel(backend, ...downBf16Launch(L, hIn, wts, c));
    return { h: unbf(g.h), y: unbf(d.y), hIn };
  }
  const xq = quantRows(xRows, rows, H);
  const qw = quantWeights(wts, E, H, F);
  const g = await runKernel(backend, ...gateUpFp8Launch(L, xq.q, xq.s, qw, c));
  // The down GEMM's FP8 input: h quantised per (row, 128 group) on the host, as the fp8
  // quantisation kernel (another engineer's) would.
  const hIn = hForDown ?? unbf(g.h);
  const hq = quantRows(hIn, rows, F);
  const d = await runKernel(backend, ...downFp8Launch(L, hq, qw, c));
  return { h: unbf(g.h), y: unbf(d.y), hIn, xq, hq, qw };
}

const BIG: Case[] = [
  { T: 1, TOPK: 2, E: 8, H: 64, F: 48, mode: 'random', seed: 1 },
  { T: 3, TOPK: 4, E: 16, H: 128, F: 96, mode: 'random', seed: 2 },
  { T: 37, TOPK: 2, E: 8, H: 256, F: 128, mode: 'random', seed: 3 },
  { T: 300, TOPK: 4, E: 16, H: 64, F: 64, mode: 'skewed', seed: 4 },
  { T: 300, TOPK: 2, E: 8, H: 192, F: 80, mode: 'one', seed: 5 },
];
const SMALL: Case[] = [
  { T: 1, TOPK: 2, E: 8, H: 64, F: 48, mode: 'random', seed: 1 },
  { T: 3, TOPK: 2, E: 8, H: 160, F: 40, mode: 'one', seed: 6 },
];

for (const backend of BACKENDS) {
  const t = suite(`moe on ${backend}`);
  const cases = backend === 'interp' ? SMALL : BIG;

  if (backend === BACKENDS[0]) {
    t('host constants mirror the kernels\' (ALIGN per target, CH)', () => {
      const mine = /^moe_(count|scan|place_|gather|gate_up_|down_|combine)/;
      const kernels = loadKernels('moe_*').filter((x) => mine.test(x.name));
      const aligned = kernels.filter((k) => k.tunables.some((t) => t.name === 'ALIGN'));
      assert.equal(aligned.map((k) => k.name).sort(), ['moe_down_bf16', 'moe_down_fp8', 'moe_gate_up_bf16', 'moe_gate_up_fp8', 'moe_place_contiguous', 'moe_scan']);
      for (const k of aligned) {
        const t = k.tunables.find((x) => x.name === 'ALIGN')!;
        // One candidate per target: the layout is a contract with the host, not a tuning choice.
        assert.equal([t.perTarget?.wgsl, t.perTarget?.cuda], [[MOE_ALIGN.webgpu], [MOE_ALIGN.cuda]], `${k.name} ALIGN`);
      }
      for (const k of kernels) if ('CH' in k.consts) assert.is(k.consts.CH, MOE_CHUNK, `${k.name} CH`);
    });
  }

  const permCases: [number, number, number, number, string][] = backend === 'interp'
    ? [[1, 2, 8, 4, 'random'], [37, 2, 8, 8, 'one'], [37, 4, 16, 3, 'random']]
    : [[1, 2, 8, 4, 'random'], [3, 4, 16, 2, 'random'], [37, 2, 8, 8, 'one'], [300, 4, 16, 40, 'skewed'], [300, 8, 256, 16, 'random'], [1000, 8, 64, 200, 'random']];
  for (const [T, TOPK, E, C, mode] of permCases) {
    t(`permute T=${T} k=${TOPK} E=${E} C=${C} ${mode}: counts, both layouts and gathers exact`, async () => {
      const { ids } = routing({ T, TOPK, E, H: 0, F: 0, mode: mode as Case['mode'], seed: T + E });
      // A few slots not routed (id -1 or out of range) must simply be skipped.
      if (T > 3) {
        ids[5] = -1;
        ids[7] = E + 3;
      }
      const ref = routeRef(ids, T, TOPK, E, C, alignOf(backend));
      const p = await permute(backend, ids, T, TOPK, E, C);
      assert.equal(ints(p.counts), Array.from(ref.counts), 'counts');
      assert.equal(ints(p.offsets), Array.from(ref.offsets), 'offsets');
      assert.equal(ints(p.contig.rowIndex), Array.from(ref.rowIndex), 'rowIndex');
      assert.equal(ints(p.contig.rowExpert), Array.from(ref.rowExpert), 'rowExpert');
      assert.equal(ints(p.contig.slotRow), Array.from(ref.slotRow), 'slotRow');
      assert.equal(ints(p.masked.rowIndex), Array.from(ref.rowIndexM), 'masked rowIndex');
      assert.equal(ints(p.masked.slotRow), Array.from(ref.slotRowM), 'masked slotRow');
      assert.equal(ints(p.masked.maskedCount), Array.from(ref.maskedCount), 'maskedCount');
      // Gathers (bf16 and fp8 + scales) follow the row maps bit for bit.
      const H = 72;
      const x = bf16(uniform(T, T * H, -3, 3));
      const R = p.MP;
      const { xp } = await runKernel(backend, 'moe_gather', { tensors: { x: bf16Bits(x), rowIndex: p.contig.rowIndex, xp: nanBf16(R * H) }, scalars: { T, H, R, TOPK } });
      assert.equal(Array.from(unbf(xp)), Array.from(gatherRef(x, ref.rowIndex, TOPK, H)), 'gathered rows');
      const q = quantRows(x, T, H);
      const HG = scaleGroups(H);
      const g8 = await runKernel(backend, 'moe_gather_fp8', {
        tensors: { xq: q.q, xs: q.s, rowIndex: p.masked.rowIndex, xqp: new Uint8Array(E * C * H).fill(0x7f), xsp: new Float32Array(E * C * HG).fill(NaN) },
        scalars: { T, H, R: E * C, TOPK },
      });
      assert.equal(Array.from(g8.xqp), Array.from(gatherRef(q.q, ref.rowIndexM, TOPK, H)), 'gathered fp8 rows');
      assert.equal(Array.from(g8.xsp), Array.from(gatherRef(q.s, ref.rowIndexM, TOPK, HG)), 'gathered scales');
    });
  }

  for (const c of cases) {
    const { E, H, F, T, TOPK } = c;
    const { ids } = routing(c);
    const C = capacity(ids, T, TOPK, E);
    const ref = routeRef(ids, T, TOPK, E, C, alignOf(backend));
    const { MP } = moeDims(T, TOPK, E, alignOf(backend));
    const x = bf16(uniform(c.seed * 7, T * H, -1, 1));
    const wts = { wg: weights(c.seed * 11, E, F, H), wu: weights(c.seed * 13, E, F, H), wd: weights(c.seed * 17, E, H, F) };
    // Permuted rows built on the host, so the GEMM tests do not depend on the permute kernels.
    const layouts = {
      contig: { rows: MP, x: gatherRef(x, ref.rowIndex, TOPK, H), tag: ref.rowExpert, expertOf: (r: number) => ref.rowExpert[r], C: 0 },
      masked: { rows: E * C, x: gatherRef(x, ref.rowIndexM, TOPK, H), tag: ref.maskedCount, expertOf: (r: number) => (ref.rowIndexM[r] >= 0 ? Math.floor(r / C) : -1), C },
    };
    for (const layout of ['contig', 'masked'] as const) {
      const L = layouts[layout];
      const own = (r: number) => L.expertOf(r) >= 0;
      t(`grouped GEMM bf16 ${layout} ${name(c)}`, async () => {
        const out = await gemms(backend, layout, 'bf16', c, L.rows, Float32Array.from(L.x), L.tag, wts, L.C);
        const hRef = gluRef(L.x, wts.wg, wts.wu, L.expertOf, L.rows, F, H);
        assertClose(pickRows(out.h, F, own), pickRows(hRef, F, own), BF16_TOL, `gate/up ${layout} ${backend}`);
        const yRef = downRef(out.hIn, wts.wd, L.expertOf, L.rows, H, F);
        assertClose(pickRows(out.y, H, own), pickRows(yRef, H, own), BF16_TOL, `down ${layout} ${backend}`);
      });
      t(`grouped GEMM fp8 ${layout} ${name(c)}`, async () => {
        const out = await gemms(backend, layout, 'fp8', c, L.rows, Float32Array.from(L.x), L.tag, wts, L.C);
        const hKer = pickRows(out.h, F, own);
        const hOrig = pickRows(gluRef(L.x, wts.wg, wts.wu, L.expertOf, L.rows, F, H), F, own);
        const hDeq = pickRows(gluRef(out.xq!.deq, out.qw!.wg.deq, out.qw!.wu.deq, L.expertOf, L.rows, F, H), F, own);
        const yKer = pickRows(out.y, H, own);
        const yOrig = pickRows(downRef(out.hIn, wts.wd, L.expertOf, L.rows, H, F), H, own);
        const yDeq = pickRows(downRef(out.hq!.deq, out.qw!.wd.deq, L.expertOf, L.rows, H, F), H, own);
        for (const [what, got, want, limit] of [
          ['gate/up vs dequantised', hKer, hDeq, FP8_DIFF], ['down vs dequantised', yKer, yDeq, FP8_DIFF],
          ['down vs unquantised', yKer, yOrig, FP8_DIFF], ['gate/up vs unquantised', hKer, hOrig, FP8_DIFF_GLU_VS_UNQUANTISED],
        ] as const) {
          const d = fp8Diff(got, want);
          if (process.env.MOE_LOG) console.log(`  ${what} ${layout} ${name(c)}: ${d.toExponential(2)}`);
          assert.ok(d < limit, `${what} ${layout} ${backend}: diff ${d.toExponential(2)} >= ${limit}`);
        }
      });
    }

    t(`combine ${name(c)}`, async () => {
      const { w } = routing(c);
      const y = bf16(uniform(c.seed * 19, MP * H, -2, 2));
      const { out } = await runKernel(backend, 'moe_combine', {
        tensors: { y: bf16Bits(y), slotRow: ref.slotRow, w, out: new Uint16Array(T * H) },
        scalars: { R: MP, H, T, TOPK },
      });
      assertClose(unbf(out), combineRef(y, ref.slotRow, w, T, TOPK, H), BF16_TOL, `combine ${backend}`);
    });
  }

  // The whole layer through the kernels only (permute -> gather -> gate/up -> down -> combine).
  const layerCases: Case[] = backend === 'interp'
    ? [{ T: 3, TOPK: 2, E: 8, H: 64, F: 48, mode: 'random', seed: 21 }]
    : [{ T: 37, TOPK: 4, E: 16, H: 128, F: 96, mode: 'random', seed: 22 }, { T: 300, TOPK: 2, E: 8, H: 192, F: 80, mode: 'skewed', seed: 23 }];
  for (const c of layerCases) {
    for (const layout of ['contig', 'masked'] as const) {
      for (const precision of ['bf16', 'fp8'] as const) {
        t(`MoE layer ${precision} ${layout} ${name(c)} vs float64`, async () => {
          const { T, TOPK, E, H, F } = c;
          const { ids, w } = routing(c);
          const x = bf16(uniform(c.seed, T * H, -1, 1));
          const wts = { wg: weights(c.seed + 1, E, F, H), wu: weights(c.seed + 2, E, F, H), wd: weights(c.seed + 3, E, H, F) };
          const C = capacity(ids, T, TOPK, E); // no drops: the layer must equal the reference
          const p = await permute(backend, ids, T, TOPK, E, C);
          const rowIndex = layout === 'contig' ? p.contig.rowIndex : p.masked.rowIndex;
          const slotRow = (layout === 'contig' ? p.contig.slotRow : p.masked.slotRow) as Int32Array;
          const rows = rowIndex.length;
          const tag = (layout === 'contig' ? p.contig.rowExpert : p.masked.maskedCount) as Int32Array;
          let y: Float32Array;
          if (precision === 'bf16') {
            const { xp } = await runKernel(backend, 'moe_gather', { tensors: { x: bf16Bits(x), rowIndex, xp: new Uint16Array(rows * H) }, scalars: { T, H, R: rows, TOPK } });
            y = (await gemms(backend, layout, 'bf16', c, rows, unbf(xp), tag, wts, C)).y;
          } else {
            // Per-token FP8 activations gathered by the kernel; GEMMs quantise nothing themselves.
            const q = quantRows(x, T, H);
            const HG = scaleGroups(H);
            const g8 = await runKernel(backend, 'moe_gather_fp8', {
              tensors: { xq: q.q, xs: q.s, rowIndex, xqp: new Uint8Array(rows * H), xsp: new Float32Array(rows * HG) },
              scalars: { T, H, R: rows, TOPK },
            });
            y = await fp8LayerGemms(backend, layout, c, rows, g8.xqp as Uint8Array, g8.xsp as Float32Array, tag, wts, C);
          }
          const { out } = await runKernel(backend, 'moe_combine', { tensors: { y: bf16Bits(y), slotRow, w, out: new Uint16Array(T * H) }, scalars: { R: rows, H, T, TOPK } });
          const want = moeLayerRef(x, ids, w, wts.wg, wts.wu, wts.wd, T, TOPK, H, F);
          const got = unbf(out);
          if (precision === 'bf16') assertClose(got, want, BF16_TOL, `MoE layer ${layout} ${backend}`);
          else {
            const qw = quantWeights(wts, E, H, F);
            const emulated = moeLayerFp8Ref(x, ids, w, qw.wg.deq, qw.wu.deq, qw.wd.deq, T, TOPK, H, F, bf16);
            const d = fp8Diff(got, emulated);
            const dOrig = fp8Diff(got, want);
            if (process.env.MOE_LOG) console.log(`  FP8 layer ${layout} ${name(c)}: ${d.toExponential(2)} vs dequantised, ${dOrig.toExponential(2)} vs unquantised`);
            assert.ok(d < FP8_DIFF, `FP8 MoE layer ${layout} ${backend} vs dequantised inputs: diff ${d.toExponential(2)}`);
            assert.ok(dOrig < FP8_DIFF_LAYER_VS_UNQUANTISED, `FP8 MoE layer ${layout} ${backend} vs unquantised inputs: diff ${dOrig.toExponential(2)}`);
          }
        });
      }
    }
  }

  // Dense FFN (layer 0 / MTP, SwiGLU of width 16384 in the model): the masked grouped GEMM
  // with one expert, capacity T and count T, reading x[T, H] in place (no permutation).
  const dense: [number, number, number][] = backend === 'interp' ? [[3, 64, 80]] : [[1, 128, 160], [37, 192, 272]];
  for (const [T, H, F] of dense) {
    t(`dense FFN via the masked grouped GEMM (E=1) T=${T} H=${H} F=${F}`, async () => {
      const x = bf16(uniform(T + 40, T * H, -1, 1));
      const wts = { wg: weights(41, 1, F, H), wu: weights(42, 1, F, H), wd: weights(43, 1, H, F) };
      const c: Case = { T, TOPK: 1, E: 1, H, F, mode: 'random', seed: 0 };
      const out = await gemms(backend, 'masked', 'bf16', c, T, x, Int32Array.of(T), wts, T);
      const hRef = gluRef(x, wts.wg, wts.wu, () => 0, T, F, H);
      assertClose(out.h, hRef, BF16_TOL, `dense gate/up ${backend}`);
      assertClose(out.y, downRef(out.hIn, wts.wd, () => 0, T, H, F), BF16_TOL, `dense down ${backend}`);
      assertClose(out.y, downRef(hRef, wts.wd, () => 0, T, H, F), BF16_TOL, `dense FFN ${backend}`);
    });
  }

  t.run();
}

/** FP8 gate/up and down on pre-quantised, gathered activations; h re-quantised on the host. */
async function fp8LayerGemms(
  backend: Backend, layout: 'contig' | 'masked', c: Case, rows: number, xq: Uint8Array, xs: Float32Array, tag: Int32Array,
  wts: { wg: Float32Array; wu: Float32Array; wd: Float32Array }, C: number,
): Promise<Float32Array> {
  const L: GemmRows = { layout, rows, tag, C };
  const qw = quantWeights(wts, c.E, c.H, c.F);
  const g = await runKernel(backend, ...gateUpFp8Launch(L, xq, xs, qw, c));
  const hq = quantRows(unbf(g.h), rows, c.F);
  const d = await runKernel(backend, ...downFp8Launch(L, hq, qw, c));
  return unbf(d.y);
}
