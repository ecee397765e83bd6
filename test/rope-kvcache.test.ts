import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { unpackArray } from '../compiler/ir/numerics.js';
import { ROPE, ropeCosSinTable } from '../model/rope.js';
import { BACKENDS, runKernel, type Backend } from './harness/backends.js';
import { bf16, bf16Bits } from './harness/bf16.js';
import { assertClose, type Tolerance } from './harness/close.js';
import {
  KV_SENTINEL as SENTINEL, MIMO_ATTENTION, emptyCache, kvWriteArgs, packed, ropeRef, ropeRows, scaleV, writeRef, type KvState, type Tokens,
} from './harness/attention-reference.js';
import { prng, uniform } from './harness/prng.js';

/**
 * RoPE (ops/attention/rope.ts) and the KV-cache writes (ops/attention/kvcache.ts) on every
 * backend against float64 references.
 *
 * RoPE: the reference (ropeRef) takes cos/sin of the float64 angle directly, not from
 * model/rope.ts's table, so the table's f32 rounding is part of what is tested.
 * Tolerances: the stated bf16 one, rtol = atol = 1e-2 (one bf16 rounding of the output is
 * ≤ 2^-8 relative), and a tight one that shows the table is still exact enough at position
 * 262143: |got − ref| ≤ ½ ulp_bf16(ref) + 2^-20·(|x_i| + |x_i+32|), i.e. correctly rounded
 * up to the f32 error of the table entries (≤ 2^-25 each) and of the f32 arithmetic. An
 * f32-angle table (fl32(p)·fl32(θ)) is off by up to 2^-7 rad at p = 262143 and fails it
 * (errors up to 0.026 were seen when this was tried).
 * Dims ≥ 64 must be bit-identical to the input.
 *
 * KV cache: caches are filled with a sentinel first; written rows must hold k_rot's bits
 * and bf16(0.707·v), other rows the sentinel. The V scale is checked bit for bit against
 * numerics' encode of the float64 product rounded to f32 first: the kernel's
 * fl32(fl32(0.707)·v) then RNE to bf16 gives the same bits for every finite bf16 v (an
 * exhaustive check below runs all 65536 patterns through the kernels), because a one-ulp
 * f32 difference in the product could only matter at a bf16 rounding tie, and none of
 * the products lands there. NaN in gives NaN out (bf16 NaNs are canonicalised). On WebGPU
 * only, results at or below 2^-126 may be flushed to zero (WGSL permits it; SwiftShader
 * does it); V never gets there in practice.
 */
const { DQK, DV, ROPE_DIM, SWA_BASE, GLOBAL_BASE } = MIMO_ATTENTION;
const BF16_OUT: Tolerance = { rtol: 1e-2, atol: 1e-2 };
const halfUlpBf16 = (v: number) => (v === 0 ? 2 ** -134 : 2 ** (Math.floor(Math.log2(Math.abs(v))) - 8));
const isNanBits = (b: number) => (b & 0x7fff) > 0x7f80;

// Full-length tables (64 MiB each) are built once and shared by every case.
const tables = new Map<number, Float32Array>();
const table = (base: number) => {
  if (!tables.has(base)) tables.set(base, ropeCosSinTable(ROPE.MAX_POS, base, ROPE_DIM));
  return tables.get(base)!;
};

const tableSuite = suite('ropeCosSinTable');
tableSuite('layout, f64 accuracy to 2^-25 at every tested position, f32-angle math is not', () => {
  const t = table(SWA_BASE);
  assert.is(t.length, ROPE.MAX_POS * ROPE_DIM);
  let worst = 0;
  for (const p of [0, 1, 2, 127, 128, 4095, 65536, 131071, 200000, 262142, 262143]) {
    for (let i = 0; i < ROPE_DIM / 2; i++) {
      const angle = p * SWA_BASE ** ((-2 * i) / ROPE_DIM);
      worst = Math.max(worst, Math.abs(t[p * ROPE_DIM + i] - Math.cos(angle)), Math.abs(t[p * ROPE_DIM + 32 + i] - Math.sin(angle)));
    }
  }
  assert.ok(worst <= 2 ** -25, `table error ${worst}`);
  assert.is(t[0], 1);
  assert.is(t[32], 0);
  const small = ropeCosSinTable(3, 7, 4); // rows [cos(pθ0), cos(pθ1), sin(pθ0), sin(pθ1)], θ = (1, 7^-1/2)
  assert.equal(Array.from(small.subarray(8, 12)), [Math.cos(2), Math.cos(2 / Math.sqrt(7)), Math.sin(2), Math.sin(2 / Math.sqrt(7))].map(Math.fround));
  // Why float64: the f32 angle at the last position is up to 2^-7 rad off.
  const p = 262143;
  const f32Angle = Math.fround(p * Math.fround(GLOBAL_BASE ** (-2 / ROPE_DIM)));
  assert.ok(Math.abs(Math.cos(f32Angle) - Math.cos(p * GLOBAL_BASE ** (-2 / ROPE_DIM))) > 1e-4);
});
tableSuite.run();

interface RopeCase { T: number; HQ: number; HKV: number; base: number }
const ROPE_CASES: RopeCase[] = [
  { T: 1, HQ: 4, HKV: 2, base: SWA_BASE }, { T: 7, HQ: 3, HKV: 1, base: GLOBAL_BASE }, { T: 33, HQ: 4, HKV: 2, base: GLOBAL_BASE },
  { T: 130, HQ: 3, HKV: 1, base: SWA_BASE }, { T: 130, HQ: 4, HKV: 2, base: GLOBAL_BASE }, { T: 7, HQ: 64, HKV: 8, base: SWA_BASE },
];
const POSITIONS = [262143, 0, 1, 127, 128, 4095];

/** Positions: the listed edge cases first, then random ones over the whole 256K range. */
function ropeInputs(tc: RopeCase, seed: number) {
  const r = prng(seed);
  const positions = Int32Array.from({ length: tc.T }, (_, t) => (t < POSITIONS.length ? POSITIONS[t] : Math.floor(r() * ROPE.MAX_POS)));
  const q = bf16(uniform(seed + 1, tc.T * tc.HQ * DQK, -2, 2));
  const k = bf16(uniform(seed + 2, tc.T * tc.HKV * DQK, -2, 2));
  return { positions, q, k };
}

/** Checks one tensor: rotated dims against ropeRef (both tolerances), the rest bit-identical. */
function checkRope(label: string, x: Float32Array, xBits: Uint16Array, got: Uint16Array, positions: Int32Array, H: number, base: number, rot = ROPE_DIM): void {
  const gotF = unpackArray('bf16', got);
  const rows = x.length / DQK;
  const expect = ropeRows(x, positions, H, base, rot);
  const rotatedGot: number[] = [];
  const rotatedWant: number[] = [];
  const half = rot / 2;
  for (let row = 0; row < rows; row++) {
    const pos = positions[Math.floor(row / H)];
    const v = expect.subarray(row * DQK, (row + 1) * DQK);
    for (let d = 0; d < DQK; d++) {
      const i = row * DQK + d;
      if (d >= rot) {
        const same = got[i] === xBits[i] || (isNanBits(got[i]) && isNanBits(xBits[i]));
        if (!same) assert.unreachable(`${label}: dim ${d} of row ${row} not copied: 0x${xBits[i].toString(16)} -> 0x${got[i].toString(16)}`);
        continue;
      }
      rotatedGot.push(gotF[i]);
      rotatedWant.push(v[d]);
      const j = d % half;
      const slack = 2 ** -20 * (Math.abs(x[row * DQK + j]) + Math.abs(x[row * DQK + half + j]));
      const err = Math.abs(gotF[i] - v[d]);
      if (!(err <= halfUlpBf16(v[d]) + slack)) assert.unreachable(`${label}: row ${row} (pos ${pos}) dim ${d}: got ${gotF[i]}, want ${v[d]}, err ${err} > ½ulp + f32 slack`);
    }
  }
  assertClose(rotatedGot, rotatedWant, BF16_OUT, label);
}


async function runRope(backend: Backend, tc: RopeCase, seed: number, choice?: Record<string, number>) {
  const { positions, q, k } = ropeInputs(tc, seed);
  const [qBits, kBits] = [bf16Bits(q), bf16Bits(k)];
  const out = await runKernel(backend, 'rope', {
    tensors: { q: qBits, k: kBits, positions, cos_sin: table(tc.base), q_rot: new Uint16Array(q.length).fill(0xdead), k_rot: new Uint16Array(k.length).fill(0xdead) },
    scalars: { T: tc.T, HQ: tc.HQ, HKV: tc.HKV, DQK, MAXPOS: ROPE.MAX_POS, ROT: ROPE_DIM },
  }, choice);
  checkRope(`rope q ${backend}`, q, qBits, out.q_rot as Uint16Array, positions, tc.HQ, tc.base);
  checkRope(`rope k ${backend}`, k, kBits, out.k_rot as Uint16Array, positions, tc.HKV, tc.base);
}

for (const backend of BACKENDS) {
  const t = suite(`rope on ${backend}`);
  ROPE_CASES.forEach((tc, n) => {
    t(`T=${tc.T} HQ=${tc.HQ} HKV=${tc.HKV} base=${tc.base} (positions ${POSITIONS.slice(0, tc.T).join(', ')}${tc.T > POSITIONS.length ? ', random' : ''})`, () => runRope(backend, tc, 100 + n));
  });

  t('dims >= 64 copied bit for bit: all 65536 bf16 patterns (NaN stays NaN)', async () => {
    const [T, HQ, HKV] = [130, 4, 1];
    const positions = Int32Array.from({ length: T }, (_, i) => (i * 2017) % ROPE.MAX_POS);
    const qBits = bf16Bits(bf16(uniform(7, T * HQ * DQK, -2, 2)));
    let n = 0;
    for (let row = 0; row < T * HQ; row++) for (let d = ROPE_DIM; d < DQK; d++) qBits[row * DQK + d] = n++ & 0xffff;
    assert.ok(n >= 65536);
    const kBits = bf16Bits(bf16(uniform(8, T * HKV * DQK, -2, 2)));
    const out = await runKernel(backend, 'rope', {
      tensors: { q: qBits, k: kBits, positions, cos_sin: table(SWA_BASE), q_rot: new Uint16Array(qBits.length), k_rot: new Uint16Array(kBits.length) },
      scalars: { T, HQ, HKV, DQK, MAXPOS: ROPE.MAX_POS, ROT: ROPE_DIM },
    });
    const q = unpackArray('bf16', qBits);
    // The rotated dims of q are finite randoms, so the reference check still applies to them.
    checkRope(`rope q ${backend}`, q, qBits, out.q_rot as Uint16Array, positions, HQ, SWA_BASE);
    checkRope(`rope k ${backend}`, unpackArray('bf16', kBits), kBits, out.k_rot as Uint16Array, positions, HKV, SWA_BASE);
  });

  t('positions outside the table: no out-of-bounds read, rotated dims zero, the rest copied', async () => {
    const [T, HQ, HKV, MAXPOS] = [4, 2, 1, 128];
    const positions = Int32Array.from([-1, 127, 128, 1 << 30]);
    const q = bf16(uniform(9, T * HQ * DQK)), k = bf16(uniform(10, T * HKV * DQK));
    const out = await runKernel(backend, 'rope', {
      tensors: { q: bf16Bits(q), k: bf16Bits(k), positions, cos_sin: ropeCosSinTable(MAXPOS, SWA_BASE), q_rot: new Uint16Array(q.length).fill(0xdead), k_rot: new Uint16Array(k.length).fill(0xdead) },
      scalars: { T, HQ, HKV, DQK, MAXPOS, ROT: ROPE_DIM },
    });
    for (const [x, H, got] of [[q, HQ, out.q_rot], [k, HKV, out.k_rot]] as const) {
      const g = got as Uint16Array;
      const xb = bf16Bits(x);
      for (let row = 0; row < T * H; row++) {
        const pos = positions[Math.floor(row / H)];
        const want = Array.from(x.subarray(row * DQK, (row + 1) * DQK));
        ropeRef(want, pos, SWA_BASE, ROPE_DIM);
        for (let d = 0; d < DQK; d++) {
          const i = row * DQK + d;
          if (d >= ROPE_DIM) assert.is(g[i], xb[i], `row ${row} dim ${d} copied`);
          else if (pos !== 127) assert.is(g[i] & 0x7fff, 0, `row ${row} (pos ${pos}) dim ${d} zero`);
          else assert.ok(Math.abs(unpackArray('bf16', [g[i]])[0] - want[d]) <= 1e-2 * (1 + Math.abs(want[d])), `row ${row} dim ${d}`);
        }
      }
    }
  });

  t('other head and rotary dims (DQK = 70, ROT = 16)', async () => {
    const [T, HQ, HKV, D, ROT, MAXPOS] = [5, 3, 1, 70, 16, 5000];
    const positions = Int32Array.from([0, 1, 4999, 77, 2500]);
    const q = bf16(uniform(11, T * HQ * D, -2, 2)), k = bf16(uniform(12, T * HKV * D, -2, 2));
    const out = await runKernel(backend, 'rope', {
      tensors: { q: bf16Bits(q), k: bf16Bits(k), positions, cos_sin: ropeCosSinTable(MAXPOS, 500, ROT), q_rot: new Uint16Array(q.length), k_rot: new Uint16Array(k.length) },
      scalars: { T, HQ, HKV, DQK: D, MAXPOS, ROT },
    });
    for (const [x, H, got] of [[q, HQ, out.q_rot], [k, HKV, out.k_rot]] as const) {
      const want = ropeRows(x, positions, H, 500, ROT, D);
      const g = unpackArray('bf16', got as Uint16Array);
      assertClose(g, want, BF16_OUT, `rope D=70 ${backend}`);
      for (let i = 0; i < x.length; i++) if (i % D >= ROT) assert.is(g[i], x[i]);
    }
  });

  for (const WG of [32, 64, 256]) {
    t(`tunable WG=${WG}`, () => runRope(backend, { T: 33, HQ: 3, HKV: 1, base: GLOBAL_BASE }, 200 + WG, { WG }));
  }
  t.run();
}

// ---------------------------------------------------------------------------------------
// KV cache

/**
 * Bit-exact comparison; NaN matches any NaN (not the sentinel). With `ftz`, an expected
 * value of magnitude ≤ 2^-126 (the smallest normal; its f32 product may have been
 * subnormal) may also come out as ±0: WGSL lets implementations flush subnormal results
 * (SwiftShader does), CUDA without -ftz and the interpreter keep them.
 */
function assertBits(got: Uint16Array, want: Uint16Array, label: string, ftz = false): void {
  assert.is(got.length, want.length, `${label}: length`);
  let bad = 0, first = -1;
  for (let i = 0; i < want.length; i++) {
    const tiny = (want[i] & 0x7fff) !== 0 && (want[i] & 0x7fff) <= 0x80;
    const same = got[i] === want[i] || (isNanBits(got[i]) && isNanBits(want[i]) && want[i] !== SENTINEL && got[i] !== SENTINEL)
      || (ftz && tiny && (got[i] & 0x7fff) === 0);
    if (!same && bad++ === 0) first = i;
  }
  if (bad) assert.unreachable(`${label}: ${bad}/${want.length} elements differ; first at [${first}]: got 0x${got[first].toString(16)}, want 0x${want[first].toString(16)}`);
}

/** One launch of kv_write_linear or kv_write_ring on `state`, checked in full against writeRef; returns the new state. */
async function kvStep(backend: Backend, ring: boolean, state: KvState, tok: Tokens, HKV: number, B: number, S: number, seed: number, opts: { vBits?: Uint16Array; choice?: Record<string, number> } = {}): Promise<KvState> {
  const T = tok.batch.length;
  const kBits = bf16Bits(bf16(uniform(seed, T * HKV * DQK, -3, 3)));
  const vBits = opts.vBits ?? bf16Bits(bf16(uniform(seed + 1, T * HKV * DV, -3, 3)));
  const vScaled = scaleV(unpackArray('bf16', vBits));
  const name = ring ? 'kv_write_ring' : 'kv_write_linear';
  const out = await runKernel(backend, name, kvWriteArgs(ring, state, tok, kBits, vBits, HKV, B, S), opts.choice);
  const want = writeRef(state, tok, kBits, vScaled, HKV, B, S, ring);
  const ftz = backend === 'webgpu';
  assertBits(out.v_scaled as Uint16Array, vScaled, `${name} v_scaled ${backend}`, ftz);
  assertBits(out.k_cache as Uint16Array, want.k, `${name} k_cache ${backend}`);
  assertBits(out.v_cache as Uint16Array, want.v, `${name} v_cache ${backend}`, ftz);
  return { k: out.k_cache as Uint16Array, v: out.v_cache as Uint16Array };
}

for (const backend of BACKENDS) {
  const t = suite(`kv cache writes on ${backend}`);

  t('V scale: all 65536 bf16 patterns, bit-exact vs f64 product rounded to f32 then bf16; cache and v_scaled equal', async () => {
    const [T, HKV, B, S] = [512, 1, 1, 512];
    const vBits = Uint16Array.from({ length: T * DV }, (_, i) => i);
    const tok = { batch: new Int32Array(T), pos: Int32Array.from({ length: T }, (_, i) => i) };
    await kvStep(backend, false, emptyCache(B, S, HKV), tok, HKV, B, S, 1, { vBits });
  });

  // Linear: odd token counts, random distinct [b, pos] (edge positions included), padding and out-of-range tokens skipped.
  for (const [T, HKV, B, SMAX] of [[1, 2, 1, 4096], [7, 1, 3, 4096], [33, 2, 2, 300], [130, 2, 3, 257]]) {
    t(`kv_write_linear T=${T} HKV=${HKV} B=${B} SMAX=${SMAX}`, async () => {
      const r = prng(T * 31 + SMAX);
      const used = new Set<number>();
      const batch = new Int32Array(T), pos = new Int32Array(T);
      const edges = [[0, SMAX - 1], [B - 1, 0], [-1, 5], [B, 0], [0, SMAX], [0, 1], [B - 1, 127], [0, 128]];
      for (let i = 0; i < T; i++) {
        let [b, p] = i < edges.length ? edges[i] : [Math.floor(r() * B), Math.floor(r() * SMAX)];
        while (b >= 0 && b < B && p < SMAX && used.has(b * SMAX + p)) [b, p] = [Math.floor(r() * B), Math.floor(r() * SMAX)];
        used.add(b * SMAX + p);
        [batch[i], pos[i]] = [b, p];
      }
      if (T === 1) [batch[0], pos[0]] = [0, 4095];
      await kvStep(backend, false, emptyCache(B, SMAX, HKV), { batch, pos }, HKV, B, SMAX, 1000 + T);
    });
  }

  // Ring: R = WINDOW + slack slots; positions beyond 3R wrap several times.
  const R = 37;
  t(`kv_write_ring: one launch, two sequences past 3R (R=${R}), wrapping across slot 0`, async () => {
    const tok = packed([[1, 3 * R + 5, 7], [0, 10 * R - 3, 26]]); // 33 tokens
    await kvStep(backend, true, emptyCache(2, R, 2), tok, 2, 2, R, 2000);
  });
  t('kv_write_ring: a chunk longer than 3R keeps only the last R positions (no write races)', async () => {
    const tok = packed([[0, 4 * R + 11, 3 * R + 19], [2, 0, 5]]); // 130 tokens; cache sequence 1 is never written
    await kvStep(backend, true, emptyCache(3, R, 1), tok, 1, 3, R, 3000);
  });
  t('kv_write_ring: prefill then decode steps, T=1 and T=7 (MTP verify), padding skipped', async () => {
    const [B, HKV] = [3, 2];
    let state = emptyCache(B, R, HKV);
    state = await kvStep(backend, true, state, packed([[0, 0, 50], [2, 0, 9]]), HKV, B, R, 4000);
    let p0 = 50, p2 = 9;
    for (let step = 0; step < 4; step++) {
      const tok = packed([[0, p0, 1], [2, p2, 1], [-1, 0, 1]]);
      state = await kvStep(backend, true, state, tok, HKV, B, R, 4100 + step);
      p0 += 1;
      p2 += 1;
    }
    state = await kvStep(backend, true, state, { batch: new Int32Array(1), pos: Int32Array.from([p0]) }, HKV, B, R, 4200);
    await kvStep(backend, true, state, packed([[2, p2 + 3 * R, 4], [0, p0 + 1, 3]]), HKV, B, R, 4300);
  });
  t('kv_write_linear and kv_write_ring: tunable WG=32 and WG=256', async () => {
    await kvStep(backend, true, emptyCache(2, R, 2), packed([[1, 5 * R, 40], [0, 2, 20]]), 2, 2, R, 5000, { choice: { WG: 32 } });
    await kvStep(backend, false, emptyCache(2, 100, 2), packed([[1, 20, 40], [0, 0, 20]]), 2, 2, 100, 5001, { choice: { WG: 256 } });
  });
  t.run();
}
