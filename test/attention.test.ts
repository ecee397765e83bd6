import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { packArray, unpackArray } from '../compiler/ir/numerics.js';
import type { TunableChoice } from '../compiler/passes/specialise.js';
import type { HostArray } from '../compiler/launch/args.js';
import { BACKENDS, runKernel, type Backend } from './harness/backends.js';
import { bf16 } from './harness/bf16.js';
import { assertClose, type Tolerance } from './harness/close.js';
import { prng, uniform } from './harness/prng.js';
import {
  MIMO_ATTENTION, attendRow, batchReference, decodeCase, decodeMergeArgs, decodeReference,
  globalDecodeArgs, hostMerge, makeBatch, prefillArgs, swaDecodeArgs, tailBatch, type Batch, type DecodeCase, type Kind, type Partials,
} from './harness/attention-reference.js';

/**
 * Attention kernels (ops/attention) against the float64 reference of the fact sheet's
 * formulas (test/harness/attention-reference.ts) on every backend: SWA and global varlen
 * prefill, split-K global decode + merge, SWA decode over a ring buffer. Inputs are
 * seeded and bf16-representable, so the reference sees exactly what the kernels see.
 * The interpreter is ~100x slower than WebGPU: it gets the small cases, cuda-emu a subset.
 */
const { DQK, DV, WINDOW, SCALE } = MIMO_ATTENTION;
/** One bf16 rounding of the output (2^-8 relative) plus f32 accumulation over <= 10^3 keys. */
const BF16_OUT: Tolerance = { rtol: 1e-2, atol: 1e-2 };
/** Two bf16 outputs of the same math summed in a different order: at most about one bf16 ulp apart. */
const SAME_MATH: Tolerance = { rtol: 2 ** -7, atol: 1e-3 };
/**
 * Decode with another split count P: each split rounds its probabilities to bf16 (the
 * tensor-core P·V operand) relative to its own running max, so the weights move by up to
 * 2^-9 of themselves; the merged f32 states and the bf16 outputs stay this close.
 */
const SPLIT_BF16_P: Tolerance = { rtol: 2 ** -7, atol: 2 ** -9 };

const floats = (a: HostArray) => unpackArray('bf16', a as Uint16Array);

// ---------------------------------------------------------------------------------------
// Varlen batches and prefill

async function prefill(backend: Backend, kind: Kind, b: Batch, sinks?: Float32Array, choice?: TunableChoice): Promise<Float32Array> {
  const out = await runKernel(backend, `${kind}_prefill`, prefillArgs(kind, b, sinks), choice);
  return floats(out.out);
}

/** Rows of `a` ([T, HQ, DV]) for tokens t0..t1. */
const rows = (a: ArrayLike<number>, HQ: number, t0: number, t1: number) => Array.prototype.slice.call(a, t0 * HQ * DV, t1 * HQ * DV) as number[];

/** [qLen, kLen] cases: q = k (plain prefill) and with a prefix (chunked prefill), keys below and above the window. */
const PREFILL_CASES: Record<Backend, (readonly (readonly [number, number])[])[]> = {
  webgpu: [[[1, 1]], [[2, 2]], [[17, 17]], [[127, 127]], [[128, 128]], [[129, 129]], [[300, 300]], [[1, 700]], [[17, 400]], [[129, 250]], [[3, 5], [0, 0], [130, 200], [1, 1], [17, 300], [128, 128]]],
  'cuda-emu': [[[1, 1]], [[129, 129]], [[300, 300]], [[17, 400]], [[3, 5], [0, 0], [130, 200], [1, 1], [17, 300]]],
  interp: [[[1, 1]], [[2, 2]], [[17, 17]], [[2, 300]], [[1, 3], [0, 0], [5, 140], [2, 2]]],
};
/** Per-head sinks: 0, +10 (dominant), -30 (no effect), 1.5; HQ = 4. */
const SINKS = Float32Array.from([0, 10, -30, 1.5]);

for (const backend of BACKENDS) {
  const t = suite(`attention prefill on ${backend}`);

  for (const lens of PREFILL_CASES[backend]) {
    const label = lens.map(([ql, kl]) => `${ql}/${kl}`).join(',');
    for (const kind of ['swa', 'global'] as const) {
      t(`${kind}_prefill qLen/kLen ${label} (HQ=4, HKV=2)`, async () => {
        const b = makeBatch(lens.length * 1000 + lens[0][0] * 7 + lens[0][1], 4, 2, lens);
        const got = await prefill(backend, kind, b, SINKS);
        assertClose(got, batchReference(kind, b, SINKS), BF16_OUT, `${kind}_prefill ${label} ${backend}`);
      });
    }
  }

  t('sinks: -30 changes nothing, +10 dominates the row (HQ=2, HKV=1, 40 tokens)', async () => {
    const b = makeBatch(77, 2, 1, [[backend === 'interp' ? 3 : 40, 40]]);
    const none = batchReference('global', b);
    const weak = Float32Array.from([-30, -30]);
    assertClose(await prefill(backend, 'swa', b, weak), none, BF16_OUT, 'sink -30 vs no sink');
    const strong = Float32Array.from([10, 10]);
    const ref = batchReference('swa', b, strong);
    const norm = (a: ArrayLike<number>) => {
      let s = 0;
      for (let i = 0; i < a.length; i++) s += a[i] * a[i];
      return Math.sqrt(s);
    };
    assert.ok(norm(ref) < 0.5 * norm(none), 'a +10 sink takes most of the probability mass');
    assertClose(await prefill(backend, 'swa', b, strong), ref, BF16_OUT, 'sink +10');
  });

  t('sinks ±8, ±1e30 over odd lengths at the window and row-block edges: +1e30 takes all the mass', async () => {
    // Row blocks are 16/32 (WebGPU, interpreter) or 64 (CUDA) rows: lengths straddle them and the window.
    const lens: [number, number][] = backend === 'interp' ? [[17, 17], [1, 40]] : [[65, 200], [1, 1], [129, 129], [33, 160]];
    const b = makeBatch(31, 4, 2, lens);
    const sinks = Float32Array.from([8, -8, 1e30, -1e30]);
    const got = await prefill(backend, 'swa', b, sinks);
    assertClose(got, batchReference('swa', b, sinks), BF16_OUT, `swa_prefill sinks ±8, ±1e30 ${backend}`);
    for (let tok = 0; tok < got.length / (4 * DV); tok++) {
      assert.ok(rows(got, 4, tok, tok + 1).slice(2 * DV, 3 * DV).every((x) => x === 0), `token ${tok}, head 2 (sink +1e30) is exactly zero`);
    }
  });

  t('window boundary: key pos-127 is visible, pos-128 is not', async () => {
    // Every query is u (random signs), key 100 is u too, all other keys are small: key 100
    // takes ~all of the mass wherever it is visible, and its value is all ones.
    const [qLen, kLen] = backend === 'interp' ? [3, 230] : [260, 260];
    const b = makeBatch(5, 2, 1, [[qLen, kLen]]);
    const u = Float32Array.from(uniform(6, DQK), (x) => (x < 0 ? -1 : 1));
    for (let i = 0; i < b.q.length; i++) b.q[i] = u[i % DQK];
    for (let i = 0; i < b.k.length; i++) b.k[i] = bf16([b.k[i] / 16])[0];
    b.k.set(u, 100 * DQK);
    b.v.fill(1, 100 * DV, 101 * DV);
    const got = await prefill(backend, 'swa', b);
    const ref = batchReference('swa', b);
    assertClose(got, ref, BF16_OUT, 'swa_prefill window boundary');
    const rowOf = (pos: number, h: number) => got[((pos - (kLen - qLen)) * 2 + h) * DV];
    for (const h of [0, 1]) {
      assert.ok(rowOf(227, h) > 0.99, `position 227 sees key 100: ${rowOf(227, h)}`);
      assert.ok(rowOf(228, h) < 0.5, `position 228 does not see key 100: ${rowOf(228, h)}`);
    }
  });

  t('fully masked rows (qLen > kLen: negative positions) are zeros, never NaN; empty sequences are skipped', async () => {
    const b = makeBatch(9, 4, 2, [[3, 1], [0, 0], [2, 0], [4, 6]]);
    for (const kind of ['swa', 'global'] as const) {
      const got = await prefill(backend, kind, b, SINKS);
      assertClose(got, batchReference(kind, b, SINKS), BF16_OUT, `${kind} masked rows`);
      // Tokens 0, 1 (sequence 0 at positions -2, -1) and 3, 4 (sequence 2, no keys) see nothing.
      for (const tok of [0, 1, 3, 4]) assert.ok(rows(got, 4, tok, tok + 1).every((x) => x === 0), `${kind} token ${tok} is exactly zero`);
    }
  });

  t('head dims other than 192/128: refused before dispatch (q of 128-dim heads)', async () => {
    const b = makeBatch(11, 2, 1, [[2, 2]]);
    const small: Batch = { ...b, q: b.q.slice(0, 2 * 2 * 128) };
    const e = await prefill(backend, 'swa', small).then(() => undefined, (x: Error) => x);
    assert.match(e?.message ?? 'no error', /\[kernel swa_prefill\] argument 'q': expected shape bf16\[T=2, HQ=2, 192\] = 768 elements, got 512$/);
  });

  t.run();
}

// ---------------------------------------------------------------------------------------
// Non-default tunables (compiled fresh): the tiling must not change results.

const VARIANTS: Record<Backend, [Kind, TunableChoice][]> = {
  webgpu: [['swa', { BQ: 32 }], ['global', { BQ: 32 }]],
  'cuda-emu': [['swa', { BQ: 32, BK: 16 }], ['global', { BK: 16 }]],
  interp: [['swa', { BQ: 32 }]],
};
for (const backend of BACKENDS) {
  const t = suite(`attention prefill tunable variants on ${backend}`);
  for (const [kind, choice] of VARIANTS[backend]) {
    t(`${kind}_prefill ${JSON.stringify(choice)}`, async () => {
      const lens: [number, number][] = backend === 'interp' ? [[3, 140], [2, 2]] : [[150, 150], [5, 131], [0, 0], [33, 33]];
      const b = makeBatch(21, 4, 2, lens);
      assertClose(await prefill(backend, kind, b, SINKS, choice), batchReference(kind, b, SINKS), BF16_OUT, `${kind} ${JSON.stringify(choice)}`);
    });
  }
  t.run();
}

// ---------------------------------------------------------------------------------------
// Decode: NQ new tokens per sequence, already in the cache.

/** The last NQ rows of every sequence of a [T, HQ, DV] prefill output. */
function lastRows(c: DecodeCase, a: ArrayLike<number>, qLens: readonly number[] = c.lens): number[] {
  let t0 = 0;
  const out: number[] = [];
  qLens.forEach((ql) => {
    out.push(...rows(a, c.HQ, t0 + ql - c.NQ, t0 + ql));
    t0 += ql;
  });
  return out;
}

/** Prefill of the same data: whole sequences, or only the new tokens after their prefix (interpreter). */
async function prefillRows(backend: Backend, kind: Kind, c: DecodeCase, sinks?: Float32Array): Promise<number[]> {
  if (backend !== 'interp') return lastRows(c, await prefill(backend, kind, c.full, sinks));
  return Array.from(await prefill(backend, kind, tailBatch(c), sinks));
}

/** Computes once, on first use (cases share a prefill across tests). */
function lazy<T>(f: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => (p ??= f());
}

async function globalDecode(backend: Backend, c: DecodeCase, P: number, SMAX: number, choice?: TunableChoice) {
  const part = await runKernel(backend, 'global_decode_partial', globalDecodeArgs(c, P, SMAX), choice);
  const merged = await runKernel(backend, 'decode_merge', decodeMergeArgs(c, P, part));
  return { out: floats(merged.out), partials: part as Partials };
}

async function swaDecode(backend: Backend, c: DecodeCase, R: number, sinks: Float32Array, choice?: TunableChoice): Promise<Float32Array> {
  const out = await runKernel(backend, 'swa_decode', swaDecodeArgs(c, R, sinks), choice);
  return floats(out.out);
}

const SPLITS = [1, 2, 3, 7, 64];
/**
 * Sequences: only the new tokens, shorter than a tile, below and above the window, and long
 * (wraps a 136-slot ring 3.8 times). The interpreter's long one is 200 (past the window, the
 * ring wrapped 1.5 times): its prefill reference costs O(len²) there, ~25 s more at 420.
 */
const DECODE_LENS: Record<Backend, number[]> = { webgpu: [0, 40, 150, 520], 'cuda-emu': [0, 150, 520], interp: [0, 40, 200] };

for (const backend of BACKENDS) {
  const t = suite(`attention decode on ${backend}`);
  const [HQ, HKV] = backend === 'interp' ? [2, 1] : [4, 2];
  const sinks = SINKS.slice(0, HQ);

  // NQ = 2 on WebGPU only: the interpreter takes ~15 s per NQ, and 1 and 4 bound it.
  for (const NQ of backend === 'webgpu' ? [1, 2, 4] : [1, 4]) {
    const c = decodeCase(300 + NQ, HQ, HKV, NQ, DECODE_LENS[backend].map((l) => l + NQ));
    const SMAX = Math.max(...c.lens) + 5;
    const globalPrefill = lazy(() => prefillRows(backend, 'global', c));
    const swaPrefill = lazy(() => prefillRows(backend, 'swa', c, sinks));
    const decodes = new Map(SPLITS.map((P) => [P, lazy(() => globalDecode(backend, c, P, SMAX))]));

    t(`global decode NQ=${NQ} lens ${c.lens}: every split count P in ${SPLITS} gives the same result, equal to prefill`, async () => {
      const ref = decodeReference('global', c);
      const pre = await globalPrefill();
      assertClose(pre, ref, BF16_OUT, 'global prefill vs reference');
      const first = await decodes.get(1)!();
      const merged1 = hostMerge(first.partials, 1);
      assertClose(first.out, ref, BF16_OUT, 'decode P=1 vs reference');
      assertClose(first.out, pre, SAME_MATH, 'decode P=1 vs prefill');
      for (const P of SPLITS.slice(1)) {
        const r = await decodes.get(P)!();
        assertClose(hostMerge(r.partials, P), merged1, SPLIT_BF16_P, `P=${P} merged f32 vs P=1`);
        assertClose(r.out, first.out, SPLIT_BF16_P, `P=${P} bf16 out vs P=1`);
        assertClose(r.out, ref, BF16_OUT, `P=${P} vs reference`);
      }
    });

    t(`global decode NQ=${NQ}: empty splits hold max=-F32_MAX, sum=0, acc=0`, async () => {
      const P = 64;
      const r = await decodes.get(P)!();
      // Sequence 0 has NQ <= 4 keys: one tile, so splits 1..63 see nothing.
      for (let row = 0; row < NQ * HQ; row++) {
        for (let s = 1; s < P; s++) {
          assert.is(r.partials.part_max[row * P + s], -3.4028234663852886e38);
          assert.is(r.partials.part_sum[row * P + s], 0);
          assert.ok(r.partials.part_acc.subarray((row * P + s) * DV, (row * P + s + 1) * DV).every((x) => x === 0));
        }
      }
    });

    for (const R of [WINDOW + NQ - 1, 136]) {
      t(`swa decode NQ=${NQ} ring R=${R} lens ${c.lens}: equals prefill (ring wraps ${(Math.max(...c.lens) / R).toFixed(1)}x)`, async () => {
        const pre = await swaPrefill();
        assertClose(pre, decodeReference('swa', c, sinks), BF16_OUT, 'swa prefill vs reference');
        const got = await swaDecode(backend, c, R, sinks);
        assertClose(got, decodeReference('swa', c, sinks), BF16_OUT, 'swa decode vs reference');
        assertClose(got, pre, SAME_MATH, 'swa decode vs prefill');
      });
    }
  }

  // WebGPU and the interpreter have one candidate per tunable (16 KiB of workgroup memory): CUDA's others.
  if (backend === 'cuda-emu') t('decode tunable variants (BR=32, BK=32, DC=64 with NQ=3, G=2: 6 rows in a 32-row tile)', async () => {
    const c = decodeCase(404, HQ, HKV, 3, [3, 45, 200]);
    const choice = { BR: 32, BK: 32, DC: 64 };
    assertClose((await globalDecode(backend, c, 3, 210, choice)).out, decodeReference('global', c), BF16_OUT, `global ${JSON.stringify(choice)}`);
    assertClose(await swaDecode(backend, c, 140, sinks, choice), decodeReference('swa', c, sinks), BF16_OUT, `swa ${JSON.stringify(choice)}`);
  });

  t.run();
}

// ---------------------------------------------------------------------------------------
// GQA packing: the G = HQ/HKV heads of a KV head and the NQ new tokens share one row tile.

/**
 * [HQ, HKV, NQ, lens, ring R]: G = 1 (no sharing), G = 16 as MiMo's global layers (one
 * 16-row tile at NQ = 1, three at NQ = 3), lengths off the key tile (16 on WebGPU, 64 on
 * CUDA), equal to NQ (the first new token sees one key), and past a ring it wraps.
 */
const GQA_CASES: Record<Backend, [number, number, number, number[], number][]> = {
  webgpu: [[2, 2, 3, [3, 4, 83, 150], 130], [16, 1, 1, [1, 70, 200], 128], [16, 2, 3, [3, 45, 140], 130]],
  'cuda-emu': [[2, 2, 3, [3, 83, 150], 130], [16, 1, 1, [1, 70, 200], 128], [16, 1, 3, [3, 140], 130]],
  interp: [[2, 2, 3, [3, 21], 130], [16, 1, 1, [1, 20], 128]],
};
/** Sinks of every size: dominant (+8, +1e30: the row's output is 0), negligible (-1e30), and in between. */
const GQA_SINKS = [8, -8, 1e30, -1e30, 0, 1.5, -2, 3];

for (const backend of BACKENDS) {
  const t = suite(`attention decode, GQA heads packed per KV head, on ${backend}`);
  for (const [HQ, HKV, NQ, lens, R] of GQA_CASES[backend]) {
    t(`HQ=${HQ} HKV=${HKV} (G=${HQ / HKV}) NQ=${NQ} lens ${lens}: global (P=1 and P=5, empty splits included) and swa (ring ${R}, sinks ±8, ±1e30) match the reference`, async () => {
      const c = decodeCase(500 + HQ * 7 + NQ, HQ, HKV, NQ, lens);
      const SMAX = Math.max(...lens) + 3;
      const ref = decodeReference('global', c);
      const one = await globalDecode(backend, c, 1, SMAX);
      assertClose(one.out, ref, BF16_OUT, 'global P=1 vs reference');
      const five = await globalDecode(backend, c, 5, SMAX);
      assertClose(hostMerge(five.partials, 5), hostMerge(one.partials, 1), SPLIT_BF16_P, 'P=5 merged f32 vs P=1');
      assertClose(five.out, one.out, SPLIT_BF16_P, 'P=5 bf16 out vs P=1');
      const sinks = Float32Array.from({ length: HQ }, (_, h) => GQA_SINKS[h % GQA_SINKS.length]);
      assertClose(await swaDecode(backend, c, R, sinks), decodeReference('swa', c, sinks), BF16_OUT, 'swa vs reference');
    });
  }
  t.run();
}

// ---------------------------------------------------------------------------------------
// The longest context, 262,144 tokens (B=1, SMAX=262144): index math and split-K at full size.

/**
 * K/V are zero for positions [0, Z) and random after. Z zero keys each add exp(0 - m) to
 * the softmax denominator and nothing to the numerator: exactly one extra logit log(Z)
 * that carries no value, i.e. the reference's sink column. So the reference is attendRow
 * over the last L - Z keys with sink log(Z), which it can do (its row max spreads every
 * logit as arguments, too many for the whole context).
 */
if (BACKENDS.includes('webgpu')) {
  const t = suite('attention decode at 262,144 tokens on webgpu');
  t('global decode, seq_len = SMAX = 262144, NQ=2, P=64 (HQ=HKV=1): matches the reference', async () => {
    const [SMAX, NQ, P, TAIL] = [262144, 2, 64, 20000];
    const Z = SMAX - TAIL;
    const r = prng(99);
    const table = packArray('bf16', uniform(98, 4096, -2, 2));
    const randomBf16 = (n: number) => Uint16Array.from({ length: n }, () => table[Math.floor(r() * 4096)]);
    const kc = new Uint16Array(SMAX * DQK), vc = new Uint16Array(SMAX * DV);
    kc.set(randomBf16(TAIL * DQK), Z * DQK);
    vc.set(randomBf16(TAIL * DV), Z * DV);
    const q = bf16(uniform(97, NQ * DQK, -3, 3));
    const part = await runKernel('webgpu', 'global_decode_partial', {
      tensors: {
        q: packArray('bf16', q), k_cache: kc, v_cache: vc, seq_lens: Int32Array.from([SMAX]),
        part_acc: new Float32Array(NQ * P * DV), part_max: new Float32Array(NQ * P), part_sum: new Float32Array(NQ * P),
      },
      scalars: { B: 1, NQ, HQ: 1, HKV: 1, SMAX, P },
    });
    const merged = await runKernel('webgpu', 'decode_merge', { tensors: { ...part, out: new Uint16Array(NQ * DV) } as Record<string, HostArray>, scalars: { B: 1, NQ, HQ: 1, P } });
    const [kf, vf] = [unpackArray('bf16', kc.subarray(Z * DQK)), unpackArray('bf16', vc.subarray(Z * DV))];
    const ref = new Float64Array(NQ * DV);
    for (let i = 0; i < NQ; i++) {
      const pos = SMAX - NQ + i - Z;
      ref.set(attendRow(q.subarray(i * DQK, (i + 1) * DQK), pos, TAIL, (j) => kf.subarray(j * DQK, (j + 1) * DQK), (j) => vf.subarray(j * DV, (j + 1) * DV), { scale: SCALE, sink: Math.log(Z), DV }), i * DV);
    }
    // Outputs are small here (|o| < 0.05: most mass sits on the zero keys): a tighter atol.
    assertClose(floats(merged.out), ref, { rtol: 1e-2, atol: 1e-3 }, 'decode at 262144 tokens');
  });
  t.run();
}
