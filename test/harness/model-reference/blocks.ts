/**
 * The building blocks of the float64 MiMo-V2-Flash reference (test/harness/model-reference.ts),
 * written from transformers' modeling_mimo_v2_flash.py and ../shared/mimo-v2-flash.md, sharing
 * nothing with ops/ or model/: checked weight reads, RMSNorm, Linear, SwiGLU, the attention
 * block (partial NeoX RoPE, GQA, causal window, sink) and the noaux_tc MoE block. Vectors are
 * one Float64Array per position; weights are row-major [out, in] as PyTorch stores them.
 */
import type { AttentionSpec, MimoConfig } from '../../../model/config.js';
import { attendRow, ropeRef } from '../attention-reference.js';
import { rmsnormRef, silu } from '../reference.js';
import { rank } from '../router-reference.js';
import { checkpointShapes, type Shapes } from './shapes.js';

/** Dequantised values of a checkpoint tensor, row-major, shapes per checkpointShapes. */
export type WeightFn = (name: string) => Float64Array;

/** Weight reads checked against the config's tensor table: a wrong size names the tensor, expected vs actual. */
export class Weights {
  private readonly shapes: Shapes;
  constructor(readonly cfg: MimoConfig, private readonly fn: WeightFn) {
    this.shapes = checkpointShapes(cfg);
  }
  get(name: string): Float64Array {
    const shape = this.shapes.get(name);
    if (!shape) throw new Error(`model reference: '${name}' is not a tensor of this config`);
    const t = this.fn(name);
    if (!(t instanceof Float64Array)) throw new TypeError(`model reference: weight '${name}' must be a Float64Array, got ${Object.prototype.toString.call(t)}`);
    const n = shape.reduce((a, b) => a * b, 1);
    if (t.length !== n) throw new RangeError(`model reference: weight '${name}' has ${t.length} values, expected [${shape.join(', ')}] = ${n}`);
    return t;
  }
}

/** x / sqrt(mean(x²) + eps) · w (MiMoV2FlashRMSNorm: plain weight, not 1 + weight). */
export const rmsnorm = (x: Float64Array, w: Float64Array, eps: number): Float64Array => rmsnormRef(x, w, 1, x.length, eps);

/**
 * y = W·x for W [N, x.length] (nn.Linear without bias). Four rows per pass share the loads
 * of x (the reference spends most of its time here); each row is still one sequential sum.
 */
export function linear(W: Float64Array, x: Float64Array, N: number): Float64Array {
  const K = x.length;
  const y = new Float64Array(N);
  let n = 0;
  for (; n + 4 <= N; n += 4) {
    const [r0, r1, r2, r3] = [n * K, (n + 1) * K, (n + 2) * K, (n + 3) * K];
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (let k = 0; k < K; k++) {
      const xk = x[k];
      s0 += W[r0 + k] * xk;
      s1 += W[r1 + k] * xk;
      s2 += W[r2 + k] * xk;
      s3 += W[r3 + k] * xk;
    }
    y[n] = s0; y[n + 1] = s1; y[n + 2] = s2; y[n + 3] = s3;
  }
  for (; n < N; n++) {
    let s = 0;
    for (let k = 0; k < K; k++) s += W[n * K + k] * x[k];
    y[n] = s;
  }
  return y;
}

export function add(a: Float64Array, b: Float64Array): Float64Array {
  const y = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) y[i] = a[i] + b[i];
  return y;
}

export interface Ffn { readonly gate: Float64Array; readonly up: Float64Array; readonly down: Float64Array; readonly inter: number }

export const loadFfn = (w: Weights, prefix: string, inter: number): Ffn => ({
  gate: w.get(`${prefix}.gate_proj.weight`), up: w.get(`${prefix}.up_proj.weight`), down: w.get(`${prefix}.down_proj.weight`), inter,
});

/** down(silu(gate(x)) · up(x)). */
export function swiglu(f: Ffn, x: Float64Array): Float64Array {
  const g = linear(f.gate, x, f.inter);
  const u = linear(f.up, x, f.inter);
  for (let i = 0; i < f.inter; i++) g[i] = silu(g[i]) * u[i];
  return linear(f.down, g, x.length);
}

// ---------------------------------------------------------------------------------------
// Attention

export interface Attention {
  readonly spec: AttentionSpec;
  readonly q: Float64Array;
  readonly k: Float64Array;
  readonly v: Float64Array;
  readonly o: Float64Array;
  /** Per-head sink logits; null where the spec has none. */
  readonly sink: Float64Array | null;
}

export const loadAttention = (w: Weights, prefix: string, spec: AttentionSpec): Attention => ({
  spec, q: w.get(`${prefix}.q_proj.weight`), k: w.get(`${prefix}.k_proj.weight`), v: w.get(`${prefix}.v_proj.weight`), o: w.get(`${prefix}.o_proj.weight`),
  sink: spec.sink ? w.get(`${prefix}.attention_sink_bias`) : null,
});

/**
 * Partial NeoX RoPE of every head of x [heads * headDim] at `pos`, in place: the first
 * rotaryDim dims of each head, pairs (i, i + rotaryDim/2) (glm4_moe apply_rotary_pos_emb).
 */
export function ropeHeads(x: Float64Array, heads: number, spec: AttentionSpec, pos: number): void {
  for (let h = 0; h < heads; h++) ropeRef(x.subarray(h * spec.headDim, (h + 1) * spec.headDim), pos, spec.ropeTheta, spec.rotaryDim);
}

/**
 * Self-attention over a run of entries at consecutive absolute positions pos0, pos0 + 1, ...
 * (hs = the normed inputs): entry t attends to entries t' <= t of the run inside the window
 * (positions before the run are absent, not zero keys). V is scaled by valueScale before
 * attention; scores q·k / sqrt(headDim); the raw sink logit joins each softmax
 * denominator; returns o_proj(concat heads) per entry.
 */
export function attention(a: Attention, hs: readonly Float64Array[], pos0: number, valueScale: number): Float64Array[] {
  const { heads, kvHeads, headDim, vHeadDim, window } = a.spec;
  if (heads % kvHeads !== 0) throw new RangeError(`model reference: attention heads ${heads} not a multiple of kvHeads ${kvHeads}`);
  const qs = hs.map((h, t) => {
    const q = linear(a.q, h, heads * headDim);
    ropeHeads(q, heads, a.spec, pos0 + t);
    return q;
  });
  const ks = hs.map((h, t) => {
    const k = linear(a.k, h, kvHeads * headDim);
    ropeHeads(k, kvHeads, a.spec, pos0 + t);
    return k;
  });
  const vs = hs.map((h) => linear(a.v, h, kvHeads * vHeadDim).map((x) => x * valueScale));
  const group = heads / kvHeads;
  const scale = headDim ** -0.5;
  const H = hs.length ? hs[0].length : 0;
  return qs.map((q, t) => {
    const o = new Float64Array(heads * vHeadDim);
    for (let h = 0; h < heads; h++) {
      const kh = Math.floor(h / group);
      o.set(attendRow(
        q.subarray(h * headDim, (h + 1) * headDim), t, t + 1,
        (j) => ks[j].subarray(kh * headDim, (kh + 1) * headDim),
        (j) => vs[j].subarray(kh * vHeadDim, (kh + 1) * vHeadDim),
        { scale, window: window ?? undefined, sink: a.sink?.[h], DV: vHeadDim },
      ), h * vHeadDim);
    }
    return linear(a.o, o, H);
  });
}

// ---------------------------------------------------------------------------------------
// Mixture of experts

export interface Routing { readonly ids: number[]; readonly weights: number[] }

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

/**
 * noaux_tc with one group: the top k of sigmoid(logit) + bias (ties to the lower id, in
 * rank order), weighted by the unbiased scores over (their sum + 1e-20).
 */
export function route(logits: Float64Array, bias: Float64Array, k: number): Routing {
  const bad = logits.findIndex((x) => !Number.isFinite(x));
  if (bad >= 0) throw new RangeError(`model reference: router logit of expert ${bad} is ${logits[bad]}`);
  const ids = rank(logits, bias).slice(0, k);
  const scores = ids.map((e) => sigmoid(logits[e]));
  const sum = scores.reduce((a, s) => a + s, 0);
  return { ids, weights: scores.map((s) => s / (sum + 1e-20)) };
}

export interface Moe { readonly gate: Float64Array; readonly bias: Float64Array; readonly experts: (j: number) => Ffn; readonly k: number }

/** Experts are read on first use (the real model has 256 per layer). */
export function loadMoe(w: Weights, prefix: string): Moe {
  const { cfg } = w;
  const experts: Ffn[] = [];
  return {
    gate: w.get(`${prefix}.gate.weight`), bias: w.get(`${prefix}.gate.e_score_correction_bias`), k: cfg.expertsPerToken,
    experts: (j) => (experts[j] ??= loadFfn(w, `${prefix}.experts.${j}`, cfg.moeIntermediateSize)),
  };
}

/** Σ_j weight_j · expert_j(x) over the routed experts. */
export function moe(m: Moe, x: Float64Array): Float64Array {
  const r = route(linear(m.gate, x, m.bias.length), m.bias, m.k);
  const y = new Float64Array(x.length);
  r.ids.forEach((e, j) => {
    const ye = swiglu(m.experts(e), x);
    for (let i = 0; i < y.length; i++) y[i] += r.weights[j] * ye[i];
  });
  return y;
}
