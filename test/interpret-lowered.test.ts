import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Expr, Kernel, MmaDType, Stmt } from '../compiler/ir/nodes.js';
import { mmaDepth } from '../compiler/ir/nodes.js';
import type { DType } from '../compiler/ir/types.js';
import { FORMATS, decode, encode, packArray, unpackArray, type NarrowType } from '../compiler/ir/numerics.js';
import { elementCount, evalSize } from '../compiler/ir/size.js';
import { forEachStmt } from '../compiler/ir/walk.js';
import type { TargetName } from '../compiler/common/target.js';
import { loadKernels } from '../compiler/compile.js';
import { InterpretError, interpret, type HostArray } from '../compiler/interpret/interpret.js';
import { interpretFor, lowerCached } from '../compiler/interpret/lowered.js';
import { HOST_ARRAY } from '../compiler/launch/args.js';
import { prng } from './harness/prng.js';
import { assertClose as close, type Tolerance } from './harness/close.js';
import { gemmRef } from './harness/reference.js';
import { attentionVarlen } from './harness/attention-reference.js';
import { chunkRef, downRef, gluRef, routeRef } from './harness/moe-reference.js';
import { MOE_ALIGN, moeDims } from '../ops/moe/shapes.js';

/**
 * The interpreter runs what the targets render. Part 1: the mmaSync fragment layouts on
 * hand-built IR, against a float64 16x8 matmul of distinct values. Each lane's registers
 * are built here straight from the PTX ISA tables ("Matrix Fragments for mma.m16n8k16 with
 * floating point type", "for mma.m16n8k32"), not from the compiler's tile-op lowering, so
 * a transposed operand or two swapped registers misses by whole products.
 */
const mma = suite('mmaSync fragment layouts');

const i32 = (value: number): Expr => ({ k: 'const', type: 'i32', value });
const bin = (op: '+' | '*' | '>>' | '&', a: Expr, b: Expr): Expr => ({ k: 'bin', op, type: 'i32', a, b });
const lane: Expr = { k: 'builtin', type: 'i32', name: 'localIndex', axis: 0 };
const g = bin('>>', lane, i32(2));
const t = bin('&', lane, i32(3));
const sym = (name: string) => ({ k: 'sym', name }) as const;

/**
 * PTX: g = groupID, t = threadID_in_group, per = elements per register (2 or 4), half = K/2.
 * A (16 x K, row-major) register j: row g + 8*(j & 1), k from per*t + half*(j >> 1).
 * B (K x 8) register j: column g, k from per*t + half*j. C/D i: row g + 8*(i >> 1), col 2t + (i & 1).
 */
function layoutKernel(dtype: MmaDType, returnEarly = false): Kernel {
  const K = mmaDepth(dtype);
  const per = K === 32 ? 4 : 2;
  const half = K / 2;
  const load = (buf: string, index: Expr): Expr => ({ k: 'load', space: 'global', buf, type: dtype, index });
  const reg = (elem: (e: number) => Expr): Expr => ({ k: 'call', fn: per === 2 ? 'pack2' : 'pack4', type: 'u32', args: Array.from({ length: per }, (_, e) => elem(e)) });
  const kOf = (e: number, hi: number) => bin('+', bin('*', t, i32(per)), i32(half * hi + e));
  const a = [0, 1, 2, 3].map((j) => reg((e) => load('a', bin('+', bin('*', bin('+', g, i32(8 * (j & 1))), i32(K)), kOf(e, j >> 1)))));
  const b = [0, 1].map((j) => reg((e) => load('b', bin('+', bin('*', kOf(e, j), i32(8)), g))));
  const cIndex = (i: number) => bin('+', bin('*', bin('+', g, i32(8 * (i >> 1))), i32(8)), bin('+', bin('*', t, i32(2)), i32(i & 1)));
  const acc = (i: number): Expr => ({ k: 'load', space: 'local', buf: 'acc', type: 'f32', index: i32(i) });
  const body: Stmt[] = [
    { k: 'localArray', name: 'acc', type: 'f32', size: { k: 'num', v: 4 } },
    ...[0, 1, 2, 3].map((i): Stmt => ({ k: 'store', space: 'local', buf: 'acc', index: i32(i), value: { k: 'load', space: 'global', buf: 'c', type: 'f32', index: cIndex(i) } })),
    ...(returnEarly ? [{ k: 'if', cond: { k: 'bin', op: '==', type: 'bool', a: lane, b: i32(5) }, then: [{ k: 'return' }], else: [] } as Stmt] : []),
    { k: 'mmaSync', dtype, acc: 'acc', accBase: 0, a, b, loc: { file: 'hand.ts', line: 7, col: 3 } },
    ...[0, 1, 2, 3].map((i): Stmt => ({ k: 'store', space: 'global', buf: 'c', index: cIndex(i), value: acc(i) })),
  ];
  return {
    name: `mma_layout_${dtype}`, doc: '', file: 'hand.ts',
    tensors: [
      { name: 'a', dtype, shape: [sym('MK')], access: 'read' },
      { name: 'b', dtype, shape: [sym('KN')], access: 'read' },
      { name: 'c', dtype: 'f32', shape: [sym('MN')], access: 'readwrite' },
    ],
    scalars: ['MK', 'KN', 'MN'].map((name) => ({ name, dtype: 'i32', isDim: true })),
    tunables: [], constraints: [], requires: [], consts: {},
    workgroup: [{ k: 'num', v: 32 }], grid: [{ k: 'num', v: 1 }], shared: [], body,
  };
}

/**
 * A matrix of bit patterns whose rows (A) or columns (B) hold distinct values, magnitudes
 * 2^-6 .. 2^6, so that pairing any k with the wrong k' changes the sum.
 */
function distinctBits(dtype: MmaDType, rows: number, cols: number, byColumn: boolean, seed: number): number[] {
  const fmt = FORMATS[dtype];
  const r = prng(seed);
  const out = new Array<number>(rows * cols);
  const [outer, inner] = byColumn ? [cols, rows] : [rows, cols];
  for (let o = 0; o < outer; o++) {
    const seen = new Set<number>();
    for (let i = 0; i < inner; i++) {
      let bits: number;
      do bits = encode(fmt, (r() < 0.5 ? -1 : 1) * 2 ** (r() * 12 - 6));
      while (seen.has(bits));
      seen.add(bits);
      out[byColumn ? i * cols + o : o * cols + i] = bits;
    }
  }
  return out;
}

for (const dtype of ['bf16', 'fp8e4m3'] as const) {
  mma(`${dtype}: 32 lanes' registers in the PTX layout give A*B + C (float64 reference, f32 accumulation bound)`, () => {
    const K = mmaDepth(dtype);
    const fmt = FORMATS[dtype];
    const Bits = dtype === 'bf16' ? Uint16Array : Uint8Array;
    const a = Bits.from(distinctBits(dtype, 16, K, false, 1));
    const b = Bits.from(distinctBits(dtype, K, 8, true, 2));
    const r = prng(3);
    const c0 = Float32Array.from({ length: 128 }, (_, i) => (i + 1) * 0.37 * (r() < 0.5 ? -1 : 1));
    const c = c0.slice();
    interpret(layoutKernel(dtype), { tensors: { a, b, c }, scalars: { MK: 16 * K, KN: K * 8, MN: 128 } });
    for (let i = 0; i < 16; i++) {
      for (let j = 0; j < 8; j++) {
        let ref = c0[i * 8 + j];
        let mag = Math.abs(ref);
        for (let k = 0; k < K; k++) {
          const p = decode(fmt, a[i * K + k]) * decode(fmt, b[k * 8 + j]);
          ref += p;
          mag += Math.abs(p);
        }
        // K fma steps, each rounded once to f32 (half an ulp of a partial sum <= mag).
        const tol = K * 2 ** -24 * mag;
        const got = c[i * 8 + j];
        assert.ok(Math.abs(got - ref) <= tol, `${dtype} D[${i}][${j}] = ${got}, float64 ${ref}, |diff| ${Math.abs(got - ref)} > ${tol}`);
      }
    }
  });
}

mma('mmaSync needs a full warp of 32 lanes: a returned lane or 16-lane subgroups are reported', () => {
  const args = () => ({ tensors: { a: new Uint16Array(256), b: new Uint16Array(128), c: new Float32Array(128) }, scalars: { MK: 256, KN: 128, MN: 128 } });
  const msg = (f: () => void): string => {
    try {
      f();
    } catch (e) {
      assert.instance(e, InterpretError);
      return (e as Error).message;
    }
    assert.unreachable('expected an InterpretError');
    return '';
  };
  assert.match(msg(() => interpret(layoutKernel('bf16', true), args())), "hand.ts:7:3: [kernel mma_layout_bf16] mmaSync needs all 32 lanes of the warp, but lane 5 has returned");
  assert.match(msg(() => interpret(layoutKernel('bf16'), args(), { subgroupSize: 16 })), 'mmaSync needs warps of 32 lanes: this launch has subgroups of 16');
});

mma.run();

/**
 * Part 2: every op kernel, at one small legal shape, run three ways in the interpreter:
 * the target-neutral IR ('interp'), what WGSL renders (narrow tensors packed in u32
 * words, storePacked) and what CUDA renders (mma.sync fragments for bf16/fp8 tile mmas).
 * Packing must not change a bit, so interp and wgsl agree exactly everywhere; so do
 * interp and cuda except where CUDA uses tensor cores, whose f32 sums run in another order:
 * those kernels are compared with float64 references (test/harness) instead.
 */
const ops = suite('lowered IR of every op kernel');

type Dims = Record<string, number>;
interface Case {
  readonly dims: Dims;
  /** Integer inputs (indices, offsets) that must be in range; floats are random. */
  readonly ints?: (d: Dims, r: () => number) => Record<string, Int32Array>;
  /** Non-shape scalars. */
  readonly scalars?: Dims;
}
const range = (n: number, hi: number, r: () => number, lo = 0) => Int32Array.from({ length: n }, () => lo + Math.floor(r() * (hi - lo)));
const routed = (d: Dims, r: () => number) => range(d.T * d.TOPK, d.E, r);
const attnCu = (d: Dims) => ({ cu_q: Int32Array.from([0, d.T]), cu_k: Int32Array.from([0, d.S]) });
const SAMPLING = { temperature: 0.8, top_k: 5, top_p: 0.9, seed: 7, step: 1 };

/**
 * Smallest shapes that satisfy each kernel's requires and fill at least one tile; attention
 * heads are the model's (192/128, fixed in their shapes).
 */
const CASES: Record<string, Case> = {
  global_decode_partial: { dims: { B: 1, NQ: 1, HQ: 2, HKV: 1, SMAX: 40, P: 1 }, ints: () => ({ seq_lens: Int32Array.from([37]) }) },
  decode_merge: { dims: { B: 1, NQ: 1, HQ: 2, P: 2 } },
  swa_decode: { dims: { B: 1, NQ: 1, HQ: 2, HKV: 1, R: 128 }, ints: () => ({ seq_lens: Int32Array.from([45]) }) },
  kv_write_linear: { dims: { T: 3, HKV: 1, DQK: 192, DV: 128, B: 2, SMAX: 8 }, ints: (d, r) => ({ batch_idx: range(d.T, d.B, r), positions: Int32Array.from([0, 5, 7]) }) },
  kv_write_ring: { dims: { T: 3, HKV: 1, DQK: 192, DV: 128, B: 2, R: 8 }, ints: (d, r) => ({ batch_idx: range(d.T, d.B, r), positions: Int32Array.from([3, 9, 130]) }) },
  swa_prefill: { dims: { T: 6, S: 6, HQ: 2, HKV: 1, B: 1 }, ints: attnCu },
  global_prefill: { dims: { T: 6, S: 6, HQ: 2, HKV: 1, B: 1 }, ints: attnCu },
  rope: { dims: { T: 3, HQ: 2, HKV: 1, DQK: 192, MAXPOS: 16, ROT: 64 }, ints: (d, r) => ({ positions: range(d.T, d.MAXPOS, r) }) },
  ...Object.fromEntries(['cast_f32_to_e4m3', 'cast_f32_to_e5m2', 'cast_bf16_to_e4m3', 'cast_bf16_to_e5m2', 'cast_f32_to_bf16', 'cast_e4m3_to_f32', 'cast_e5m2_to_f32', 'cast_e4m3_to_bf16', 'cast_e5m2_to_bf16', 'residual_add'].map((n) => [n, { dims: { N: 301 } }])),
  quant_act_e4m3: { dims: { T: 2, K: 256 } },
  dequant_w_e4m3: { dims: { N: 130, K: 128 } },
  gemm_bf16: { dims: { M: 32, N: 32, K: 48 } },
  gemm_f32: { dims: { M: 32, N: 32, K: 48 } },
  add_rmsnorm: { dims: { T: 2, D: 160 } },
  router_logits: { dims: { T: 2, H: 96, E: 8 } },
  embed_tokens: { dims: { V: 10, H: 96, T: 3 }, ints: (d, r) => ({ ids: range(d.T, d.V, r) }) },
  gather_rows: { dims: { T: 4, H: 96, R: 3 }, ints: (d, r) => ({ rows: range(d.R, d.T, r) }) },
  concat_halves: { dims: { T: 2, H: 40 } },
  moe_combine: { dims: { R: 5, H: 64, T: 2, TOPK: 2 }, ints: (d, r) => ({ slotRow: Int32Array.from([0, 4, -1, 2]) }) },
  moe_gate_up_bf16: { dims: { M: 2 * MOE_ALIGN.cuda, H: 32, E: 2, F: 32 }, ints: () => ({ rowExpert: rowTags() }) },
  moe_gate_up_bf16_masked: { dims: { C: 32, H: 32, E: 2, F: 32 }, ints: () => ({ maskedCount: Int32Array.from([32, 5]) }) },
  moe_gate_up_fp8: { dims: { M: 2 * MOE_ALIGN.cuda, H: 128, E: 2, F: 32 }, ints: () => ({ rowExpert: rowTags() }) },
  moe_gate_up_fp8_masked: { dims: { C: 32, H: 128, E: 2, F: 32 }, ints: () => ({ maskedCount: Int32Array.from([32, 5]) }) },
  moe_down_bf16: { dims: { M: 2 * MOE_ALIGN.cuda, H: 32, E: 2, F: 32 }, ints: () => ({ rowExpert: rowTags() }) },
  moe_down_bf16_masked: { dims: { C: 32, H: 32, E: 2, F: 32 }, ints: () => ({ maskedCount: Int32Array.from([32, 5]) }) },
  moe_down_fp8: { dims: { M: 2 * MOE_ALIGN.cuda, H: 32, E: 2, F: 128 }, ints: () => ({ rowExpert: rowTags() }) },
  moe_down_fp8_masked: { dims: { C: 32, H: 32, E: 2, F: 128 }, ints: () => ({ maskedCount: Int32Array.from([32, 5]) }) },
  moe_count: { dims: { T: 5, TOPK: 2, E: 4 }, ints: (d, r) => ({ ids: routed(d, r) }) },
  moe_scan: aligned('moe_scan', MOE_ALIGN.webgpu).c,
  moe_place_contiguous: aligned('moe_place_contiguous', MOE_ALIGN.webgpu).c,
  moe_place_masked: { dims: { T: 5, TOPK: 2, E: 4, C: 2 }, ints: (d, r) => placeInputs(d, r, false) },
  moe_gather: { dims: { T: 3, H: 64, R: 5 }, scalars: { TOPK: 2 }, ints: () => ({ rowIndex: Int32Array.from([0, 5, -1, 3, 1]) }) },
  moe_gather_fp8: { dims: { T: 3, H: 128, R: 5 }, scalars: { TOPK: 2 }, ints: () => ({ rowIndex: Int32Array.from([0, 5, -1, 3, 1]) }) },
  moe_router: { dims: { T: 3, E: 8, TOPK: 2 } },
  rmsnorm: { dims: { T: 2, D: 160 } },
  gate_up_rows_bf16: { dims: { T: 2, H: 128, F: 8 } },
  gate_up_rows_fp8: { dims: { T: 2, H: 128, F: 8 } },
  linear_rows_bf16: { dims: { T: 2, K: 128, N: 8 } },
  linear_rows_fp8: { dims: { T: 2, K: 128, N: 8 } },
  logits_rows: { dims: { T: 2, K: 128, N: 8 } },
  moe_gate_up_rows_bf16: { dims: { T: 2, TOPK: 2, H: 128, F: 8, E: 3 }, ints: (d, r) => ({ ids: routed(d, r) }) },
  moe_gate_up_rows_fp8: { dims: { T: 2, TOPK: 2, H: 128, F: 8, E: 3 }, ints: (d, r) => ({ ids: routed(d, r) }) },
  moe_down_rows_bf16: { dims: { T: 2, TOPK: 2, H: 8, F: 128, E: 3 }, ints: (d, r) => ({ ids: routed(d, r) }) },
  moe_down_rows_fp8: { dims: { T: 2, TOPK: 2, H: 8, F: 128, E: 3 }, ints: (d, r) => ({ ids: routed(d, r) }) },
  sample_greedy: { dims: { B: 2, V: 300 } },
  sample_logprobs: { dims: { B: 2, V: 300, K: 3 }, ints: (d, r) => ({ chosen: range(d.B, d.V, r) }) },
  sample_token: { dims: { B: 2, V: 300 }, scalars: SAMPLING },
  verify_greedy: { dims: { B: 2, N: 3 }, ints: (d, r) => ({ draft: range(d.B * d.N, 4, r), target_ids: range(d.B * (d.N + 1), 4, r) }) },
  verify_sample: { dims: { B: 2, N: 3, V: 50 }, ints: (d, r) => ({ draft: range(d.B * d.N, d.V, r) }), scalars: SAMPLING },
  softmax: { dims: { R: 2, N: 300 } },
  swiglu: { dims: { N: 600 } },
};

/**
 * Contiguous-layout row tags for 2 experts of 20 and 8 rows, blocks of CUDA's ALIGN (a
 * multiple of WebGPU's, so every target's tiles stay within one expert), padding -1.
 */
function rowTags(): Int32Array {
  const A = MOE_ALIGN.cuda;
  return Int32Array.from({ length: 2 * A }, (_, r) => (r < 20 ? 0 : r < A ? -1 : r < A + 8 ? 1 : -1));
}

function placeInputs(d: Dims, r: () => number, contig: boolean, align = 1): Record<string, Int32Array> {
  const ids = routed(d, r);
  const { chunkOffsets } = chunkRef(ids, d.T, d.TOPK, d.E);
  const ref = routeRef(ids, d.T, d.TOPK, d.E, contig ? 1 : d.C, align);
  return contig ? { ids, chunkOffsets, counts: ref.counts, offsets: ref.offsets } : { ids, chunkOffsets, counts: ref.counts };
}

/**
 * The kernels whose outputs follow the contiguous layout's ALIGN, one value per target
 * (WebGPU's for the interpreter too): the case at a given ALIGN and its exact outputs.
 */
function aligned(name: 'moe_scan' | 'moe_place_contiguous', align: number): { c: Case; expect: (t: Record<string, HostArray>) => Record<string, Int32Array> } {
  if (name === 'moe_scan') {
    const [NC, E] = [2, 4];
    return {
      c: { dims: { NC, E }, ints: (d, r) => ({ chunkCounts: range(d.NC * d.E, 40, r) }) },
      expect: (t) => {
        const cc = t.chunkCounts as Int32Array;
        const chunkOffsets = new Int32Array(NC * E), counts = new Int32Array(E), offsets = new Int32Array(E);
        for (let e = 0; e < E; e++) {
          for (let c = 0; c < NC; c++) [chunkOffsets[c * E + e], counts[e]] = [counts[e], counts[e] + cc[c * E + e]];
          if (e > 0) offsets[e] = offsets[e - 1] + Math.ceil(counts[e - 1] / align) * align;
        }
        return { chunkOffsets, counts, offsets };
      },
    };
  }
  const [T, TOPK, E] = [5, 2, 4];
  return {
    c: { dims: { T, TOPK, E, MP: moeDims(T, TOPK, E, align).MP }, ints: (d, r) => placeInputs(d, r, true, align) },
    expect: (t) => {
      const ref = routeRef(t.ids, T, TOPK, E, 1, align);
      return { rowIndex: ref.rowIndex, rowExpert: ref.rowExpert, slotRow: ref.slotRow };
    },
  };
}

/** Launch arguments: dims as scalars, integer inputs from the case, floats uniform in [-1, 1), outputs zero. */
function launch(k: Kernel, c: Case, seed: number): { tensors: Record<string, HostArray>; scalars: Dims } {
  const r = prng(seed);
  const ints = c.ints?.(c.dims, r) ?? {};
  const tensors: Record<string, HostArray> = {};
  for (const t of k.tensors) {
    const n = evalSize(elementCount(t.shape), { ...k.consts, ...c.dims });
    if (ints[t.name]) tensors[t.name] = ints[t.name];
    // InOut outputs start at zero like Out ones: the MoE GEMMs leave padding rows as the caller set them, which the references take as 0.
    else if (t.access !== 'read') tensors[t.name] = HOST_ARRAY[t.dtype as Exclude<DType, 'bool'>].create(n);
    else if (t.dtype === 'f32') tensors[t.name] = Float32Array.from({ length: n }, () => r() * 2 - 1);
    else if (t.dtype === 'i32' || t.dtype === 'u32') throw new Error(`interpret-lowered.test.ts: kernel ${k.name} input '${t.name}' is ${t.dtype}: give it an ints() builder in CASES`);
    else tensors[t.name] = packArray(t.dtype as NarrowType, Float32Array.from({ length: n }, () => r() * 2 - 1));
  }
  const scalars: Dims = { ...c.scalars };
  for (const s of k.scalars) if (s.isDim) scalars[s.name] = c.dims[s.name];
  return { tensors, scalars };
}

function runAs(k: Kernel, target: TargetName, args: { tensors: Record<string, HostArray>; scalars: Dims }): Record<string, HostArray> {
  const tensors = Object.fromEntries(Object.entries(args.tensors).map(([n, a]) => [n, a.slice()]));
  interpretFor(k, target, { tensors, scalars: args.scalars });
  return Object.fromEntries(k.tensors.filter((t) => t.access !== 'read').map((t) => [t.name, tensors[t.name]]));
}

const bytes = (a: HostArray) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
function sameBits(k: string, what: string, a: Record<string, HostArray>, b: Record<string, HostArray>): void {
  for (const name of Object.keys(a)) {
    if (bytes(a[name]).equals(bytes(b[name]))) continue;
    const i = a[name].findIndex((v, j) => !Object.is(v, b[name][j]));
    assert.unreachable(`${k}: ${what} differ in '${name}' at element ${i}: ${a[name][i]} vs ${b[name][i]}`);
  }
}

const usesTensorCores = (k: Kernel): boolean => {
  let found = false;
  forEachStmt(lowerCached(k, 'cuda').body, (s) => { if (s.k === 'mmaSync') found = true; });
  return found;
};

let all: Kernel[] | undefined;
const kernelList = (): Kernel[] => (all ??= loadKernels());

ops('every op kernel has a case here (a new kernel needs one)', () => {
  const missing = kernelList().filter((k) => !CASES[k.name]).map((k) => k.name);
  assert.equal(missing, [], `kernels without a case in interpret-lowered.test.ts: ${missing.join(', ')}`);
});

ops('interp, wgsl and cuda lowerings agree bit for bit (cuda without tensor cores)', () => {
  const tc: string[] = [];
  for (const k of kernelList()) {
    const c = CASES[k.name];
    if (!c) continue;
    const args = launch(k, c, 11);
    const generic = runAs(k, 'interp', args);
    sameBits(k.name, 'interp and wgsl outputs', generic, runAs(k, 'wgsl', args));
    if (k.name === 'moe_scan' || k.name === 'moe_place_contiguous') {
      // Each target at its own ALIGN, against the exact layout.
      sameBits(k.name, 'interp outputs and the layout at WebGPU\'s ALIGN', generic, aligned(k.name, MOE_ALIGN.webgpu).expect(args.tensors));
      const atCuda = aligned(k.name, MOE_ALIGN.cuda);
      const cudaArgs = launch(k, atCuda.c, 11);
      sameBits(k.name, 'cuda outputs and the layout at CUDA\'s ALIGN', runAs(k, 'cuda', cudaArgs), atCuda.expect(cudaArgs.tensors));
    } else if (usesTensorCores(k)) tc.push(k.name);
    else sameBits(k.name, 'interp and cuda outputs', generic, runAs(k, 'cuda', args));
  }
  assert.equal(tc.sort(), TENSOR_CORE_KERNELS.map((x) => x.name).sort(), 'kernels whose CUDA lowering uses mma.sync');
});

/**
 * Tensor-core kernels: the CUDA lowering (mma.sync, f32 sums in the emulator's k order)
 * against float64 references from test/harness. Operands are exact; the error is f32
 * accumulation (<= K * 2^-24 * sum |a*b|, ~1e-6 relative here) plus, for bf16 outputs, one
 * rounding to bf16 (2^-9 relative) and for the GLU the bf16 rounding of its inputs'
 * dot products before silu: rtol 2^-7 covers both; atol absorbs outputs near zero.
 */
interface TensorCoreCase {
  readonly name: string;
  readonly out: string;
  readonly tol: Tolerance;
  readonly ref: (a: Record<string, HostArray>, d: Dims) => Float64Array;
}
const dec = (a: HostArray, t: NarrowType) => unpackArray(t, a);
/** Codes [rows, K] times per-(row, 128-column block) scales, rows grouped in 128-row blocks when `rowBlocks`. */
function dequant(q: HostArray, s: HostArray, rows: number, K: number, rowBlocks: boolean): Float64Array {
  const v = dec(q, 'fp8e4m3');
  const KB = Math.ceil(K / 128);
  return Float64Array.from({ length: rows * K }, (_, i) => {
    const r = Math.floor(i / K), k = i % K;
    return v[i] * s[(rowBlocks ? Math.floor(r / 128) : r) * KB + Math.floor(k / 128)];
  });
}
/** Expert weights [E, N, K] with scales [E, cdiv(N,128), cdiv(K,128)]. */
const dequantExperts = (q: HostArray, s: HostArray, E: number, N: number, K: number): Float64Array => {
  const out = new Float64Array(E * N * K);
  const NB = Math.ceil(N / 128), KB = Math.ceil(K / 128);
  for (let e = 0; e < E; e++) out.set(dequant(q.subarray(e * N * K, (e + 1) * N * K), s.subarray(e * NB * KB, (e + 1) * NB * KB), N, K, true), e * N * K);
  return out;
};
const contig = (a: Record<string, HostArray>) => (r: number) => a.rowExpert[r];
const masked = (a: Record<string, HostArray>, C: number) => (r: number) => (r % C < a.maskedCount[Math.floor(r / C)] ? Math.floor(r / C) : -1);
const rowsOf = (d: Dims) => d.M ?? d.E * d.C;
const expertOf = (name: string, a: Record<string, HostArray>, d: Dims) => (name.endsWith('_masked') ? masked(a, d.C) : contig(a));
const BF16_OUT: Tolerance = { rtol: 2 ** -7, atol: 1e-4 };

/**
 * Decode attention of the last position of a len-key sequence, HKV = 1, DQK 192, DV 128:
 * per query head the unnormalised sum_j e^(s_j - m) v_j (one split: m is the row max) or,
 * with a sink, the normalised output. The kernels round the probabilities to bf16 for P·V
 * (2^-9 of each weight), over <= 45 keys of |v| <= 1: atol covers that sum.
 */
function decodeRef(a: Record<string, HostArray>, HQ: number, len: number, ring: string, sink?: Float32Array): Float64Array {
  const [q, k, v] = [dec(a.q, 'bf16'), dec(a[`k_${ring}`], 'bf16'), dec(a[`v_${ring}`], 'bf16')];
  const out = new Float64Array(HQ * 128);
  for (let h = 0; h < HQ; h++) {
    const s = Array.from({ length: len }, (_, j) => { let x = 0; for (let d = 0; d < 192; d++) x += q[h * 192 + d] * k[j * 192 + d]; return x * 0.07216878364870323; });
    const m = Math.max(...s, sink ? sink[h] : -Infinity);
    const w = s.map((x) => Math.exp(x - m));
    const l = sink ? w.reduce((x, y) => x + y, Math.exp(sink[h] - m)) : 1;
    w.forEach((wj, j) => { for (let d = 0; d < 128; d++) out[h * 128 + d] += (wj / l) * v[j * 128 + d]; });
  }
  return out;
}

const TENSOR_CORE_KERNELS: readonly TensorCoreCase[] = [
  { name: 'global_decode_partial', out: 'part_acc', tol: { rtol: 2 ** -7, atol: 2 ** -9 * 45 }, ref: (a, d) => decodeRef(a, d.HQ, 37, 'cache') },
  { name: 'swa_decode', out: 'out', tol: { rtol: 2 ** -7, atol: 2 ** -7 }, ref: (a, d) => decodeRef(a, d.HQ, 45, 'ring', a.sink as Float32Array) },
  // Prefill: P·V takes bf16 probabilities (2^-9 of each weight) over <= 6 keys of |v| <= 1, out is bf16.
  ...(['swa_prefill', 'global_prefill'] as const).map((name): TensorCoreCase => ({
    name, out: 'out', tol: { rtol: 2 ** -7, atol: 2 ** -7 },
    ref: (a, d) => attentionVarlen(dec(a.q, 'bf16'), dec(a.k, 'bf16'), dec(a.v, 'bf16'), a.cu_q as Int32Array, a.cu_k as Int32Array,
      { HQ: d.HQ, HKV: d.HKV, DQK: 192, DV: 128 }, name === 'swa_prefill' ? { scale: 0.07216878364870323, window: 128, sinks: a.sink as Float32Array } : { scale: 0.07216878364870323 }),
  })),
  { name: 'gemm_bf16', out: 'out', tol: { rtol: 1e-6, atol: 1e-5 }, ref: (a, d) => gemmRef(dec(a.a, 'bf16'), dec(a.b, 'bf16'), d.M, d.N, d.K) },
  ...['moe_gate_up_bf16', 'moe_gate_up_bf16_masked'].map((name): TensorCoreCase => ({
    name, out: 'h', tol: BF16_OUT,
    ref: (a, d) => gluRef(dec(a.x, 'bf16'), dec(a.wg, 'bf16'), dec(a.wu, 'bf16'), expertOf(name, a, d), rowsOf(d), d.F, d.H),
  })),
  ...['moe_down_bf16', 'moe_down_bf16_masked'].map((name): TensorCoreCase => ({
    name, out: 'y', tol: BF16_OUT,
    ref: (a, d) => downRef(dec(a.h, 'bf16'), dec(a.wd, 'bf16'), expertOf(name, a, d), rowsOf(d), d.H, d.F),
  })),
  ...['moe_gate_up_fp8', 'moe_gate_up_fp8_masked'].map((name): TensorCoreCase => ({
    name, out: 'h', tol: BF16_OUT,
    ref: (a, d) => gluRef(dequant(a.xq, a.xs, rowsOf(d), d.H, false), dequantExperts(a.wg, a.wgs, d.E, d.F, d.H), dequantExperts(a.wu, a.wus, d.E, d.F, d.H), expertOf(name, a, d), rowsOf(d), d.F, d.H),
  })),
  ...['moe_down_fp8', 'moe_down_fp8_masked'].map((name): TensorCoreCase => ({
    name, out: 'y', tol: BF16_OUT,
    ref: (a, d) => downRef(dequant(a.hq, a.hs, rowsOf(d), d.F, false), dequantExperts(a.wd, a.wds, d.E, d.H, d.F), expertOf(name, a, d), rowsOf(d), d.H, d.F),
  })),
];

for (const tc of TENSOR_CORE_KERNELS) {
  ops(`${tc.name}: the cuda lowering (mma.sync) and the generic IR match a float64 reference`, () => {
    const k = kernelList().find((x) => x.name === tc.name)!;
    const c = CASES[tc.name];
    const args = launch(k, c, 11);
    const want = tc.ref(args.tensors, c.dims);
    const bf16Out = k.tensors.find((t) => t.name === tc.out)!.dtype === 'bf16';
    // Contiguous layout: padding rows (rowExpert -1) inside a tile are computed but undefined, so only routed rows count.
    const rowExpert = args.tensors.rowExpert;
    const width = want.length / rowsOf(c.dims);
    const routed = <T extends ArrayLike<number>>(a: T) => Float64Array.from(a).filter((_, i) => !rowExpert || rowExpert[Math.floor(i / width)] >= 0);
    for (const target of ['cuda', 'interp'] as const) {
      const got = runAs(k, target, args)[tc.out];
      close(routed(bf16Out ? dec(got, 'bf16') : got), routed(want), tc.tol, `${tc.name} (${target} lowering)`);
    }
  });
}

ops.run();
