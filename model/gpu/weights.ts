/**
 * The model's weights, resident on the device in the layouts the kernels read, uploaded once
 * from a checkpoint (model/weights/checkpoint.ts) tensor by tensor, so only one tensor is
 * ever in host memory at a time:
 *  - a Linear [N, K] stays [N, K] (PyTorch's layout; the masked grouped GEMM with one
 *    expert computes x·Wᵀ), BF16 or FP8 with its [⌈N/128⌉, ⌈K/128⌉] f32 block scales;
 *  - a MoE layer's experts are stacked into [E, F, H] / [E, H, F] (and their scales);
 *  - the router gate, its correction bias and the sinks are f32.
 */
import { tensorBytes, type DeviceTensor, type KernelRuntime } from '../../backends/common/kernel-runtime.js';
import type { DType } from '../../compiler/ir/types.js';
import type { AttentionKind, MimoConfig } from '../config.js';
import type { Checkpoint } from '../weights/checkpoint.js';
import type { Progress } from '../weights/progress.js';

export interface Linear {
  readonly n: number;
  readonly k: number;
  readonly w: DeviceTensor;
  /** FP8 block scales (weight_scale_inv), absent for BF16. */
  readonly s?: DeviceTensor;
}

export interface AttentionWeights {
  readonly kind: AttentionKind;
  readonly q: Linear;
  readonly k: Linear;
  readonly v: Linear;
  readonly o: Linear;
  readonly sink?: DeviceTensor;
}

export interface DenseFfnWeights {
  readonly kind: 'dense';
  readonly gate: Linear;
  readonly up: Linear;
  readonly down: Linear;
}

export interface MoeWeights {
  readonly kind: 'moe';
  readonly router: DeviceTensor;
  readonly bias: DeviceTensor;
  /** Stacked expert weights, as Linears whose w/s hold E matrices. */
  readonly gate: Linear;
  readonly up: Linear;
  readonly down: Linear;
}

export interface LayerWeights {
  readonly inputNorm: DeviceTensor;
  readonly postNorm: DeviceTensor;
  readonly attn: AttentionWeights;
  readonly ffn: DenseFfnWeights | MoeWeights;
}

export interface MtpWeights {
  readonly enorm: DeviceTensor;
  readonly hnorm: DeviceTensor;
  readonly eh: Linear;
  readonly inputNorm: DeviceTensor;
  readonly attn: AttentionWeights;
  readonly preMlpNorm: DeviceTensor;
  readonly ffn: DenseFfnWeights;
  readonly finalNorm: DeviceTensor;
}

export interface ModelWeights {
  readonly embed: DeviceTensor;
  /** [V, H] (the embedding when tied); logits_rows gives f32 logits. */
  readonly lmHead: DeviceTensor;
  readonly norm: DeviceTensor;
  readonly layers: readonly LayerWeights[];
  readonly mtp: readonly MtpWeights[];
  /** Weight bytes on the device. */
  readonly bytes: number;
}

const DTYPE_OF: Record<string, DType> = { BF16: 'bf16', F32: 'f32', F8_E4M3: 'fp8e4m3' };

class Uploader {
  bytes = 0;
  constructor(readonly rt: KernelRuntime, readonly ckpt: Checkpoint, readonly progress?: Progress) {}

  private buffer(dtype: DType, length: number, label: string): DeviceTensor {
    const size = tensorBytes(dtype, length);
    this.bytes += size;
    return { buffer: this.rt.createBuffer(size, label), dtype, length };
  }

  private write(t: DeviceTensor, byteOffset: number, data: Uint8Array): void {
    // Writes are whole 4-byte words; the buffer is padded to one.
    const padded = data.byteLength % 4 ? Uint8Array.from({ length: Math.ceil(data.byteLength / 4) * 4 }, (_, i) => data[i] ?? 0) : data;
    this.rt.write(t.buffer, byteOffset, padded);
    this.progress?.tick(data.byteLength);
  }

  private info(name: string) {
    const info = this.ckpt.tensors.get(name);
    if (!info) throw new Error(`${this.ckpt.dir}: tensor '${name}' is missing`);
    return info;
  }

  /** A tensor as stored, in its own buffer. */
  async plain(name: string): Promise<DeviceTensor> {
    const info = this.info(name);
    const dtype = DTYPE_OF[info.dtype];
    if (!dtype) throw new Error(`${this.ckpt.dir}: tensor '${name}' has dtype ${info.dtype}; expected BF16, F32 or F8_E4M3`);
    const t = this.buffer(dtype, info.shape.reduce((a, b) => a * b, 1), name);
    this.write(t, 0, await this.ckpt.read(name));
    return t;
  }

  /** An f32 tensor (the router gate, biases, sinks), converted from BF16 where stored so. */
  async f32(name: string): Promise<DeviceTensor> {
    this.info(name);
    const data = await this.ckpt.readAsF32(name);
    const t = this.buffer('f32', data.length, name);
    this.write(t, 0, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    return t;
  }

  /** A Linear `module` (FP8 when it has weight_scale_inv). */
  async linear(module: string): Promise<Linear> {
    return this.stacked([module]);
  }

  /** Linears of equal shape stacked into one [E, N, K] tensor (and [E, NB, KB] scales). */
  async stacked(modules: string[]): Promise<Linear> {
    const first = this.info(`${modules[0]}.weight`);
    const [n, k] = first.shape;
    const fp8 = this.ckpt.tensors.has(`${modules[0]}.weight_scale_inv`);
    const wType: DType = fp8 ? 'fp8e4m3' : 'bf16';
    const per = n * k;
    const w = this.buffer(wType, per * modules.length, `${modules[0]}.weight`);
    const sPer = Math.ceil(n / 128) * Math.ceil(k / 128);
    const s = fp8 ? this.buffer('f32', sPer * modules.length, `${modules[0]}.weight_scale_inv`) : undefined;
    for (const [e, m] of modules.entries()) {
      const info = this.info(`${m}.weight`);
      const want = fp8 ? 'F8_E4M3' : 'BF16';
      if (info.dtype !== want || info.shape[0] !== n || info.shape[1] !== k) {
        throw new Error(`${this.ckpt.dir}: tensor '${m}.weight' is ${info.dtype} [${info.shape}], expected ${want} [${n}, ${k}] like ${modules[0]}`);
      }
      this.write(w, e * per * (fp8 ? 1 : 2), await this.ckpt.read(`${m}.weight`));
      if (s) this.write(s, e * sPer * 4, await this.ckpt.read(`${m}.weight_scale_inv`));
    }
    return { n, k, w, s };
  }
}

async function attention(u: Uploader, cfg: MimoConfig, prefix: string, kind: AttentionKind): Promise<AttentionWeights> {
  const p = `${prefix}.self_attn`;
  return {
    kind,
    q: await u.linear(`${p}.q_proj`),
    k: await u.linear(`${p}.k_proj`),
    v: await u.linear(`${p}.v_proj`),
    o: await u.linear(`${p}.o_proj`),
    sink: cfg.attention[kind].sink ? await u.f32(`${p}.attention_sink_bias`) : undefined,
  };
}

async function dense(u: Uploader, prefix: string): Promise<DenseFfnWeights> {
  return { kind: 'dense', gate: await u.linear(`${prefix}.gate_proj`), up: await u.linear(`${prefix}.up_proj`), down: await u.linear(`${prefix}.down_proj`) };
}

async function moe(u: Uploader, cfg: MimoConfig, prefix: string): Promise<MoeWeights> {
  const experts = (proj: string) => Array.from({ length: cfg.experts }, (_, e) => `${prefix}.experts.${e}.${proj}`);
  return {
    kind: 'moe',
    router: await u.f32(`${prefix}.gate.weight`),
    bias: await u.f32(`${prefix}.gate.e_score_correction_bias`),
    gate: await u.stacked(experts('gate_proj')),
    up: await u.stacked(experts('up_proj')),
    down: await u.stacked(experts('down_proj')),
  };
}

/** Uploads every weight the forward pass (and, with `mtpLayers`, the MTP layers) reads. */
export async function uploadWeights(rt: KernelRuntime, ckpt: Checkpoint, cfg: MimoConfig, mtpLayers: number, progress?: Progress): Promise<ModelWeights> {
  const u = new Uploader(rt, ckpt, progress);
  const embed = await u.plain('model.embed_tokens.weight');
  const lmHead = cfg.tieWordEmbeddings ? embed : await u.plain('lm_head.weight');
  const norm = await u.plain('model.norm.weight');
  const layers: LayerWeights[] = [];
  for (const [i, l] of cfg.layers.entries()) {
    const p = `model.layers.${i}`;
    layers.push({
      inputNorm: await u.plain(`${p}.input_layernorm.weight`),
      postNorm: await u.plain(`${p}.post_attention_layernorm.weight`),
      attn: await attention(u, cfg, p, l.attention),
      ffn: l.ffn === 'dense' ? await dense(u, `${p}.mlp`) : await moe(u, cfg, `${p}.mlp`),
    });
  }
  const mtp: MtpWeights[] = [];
  for (let k = 0; k < mtpLayers; k++) {
    const p = `model.mtp.layers.${k}`;
    mtp.push({
      enorm: await u.plain(`${p}.enorm.weight`),
      hnorm: await u.plain(`${p}.hnorm.weight`),
      eh: await u.linear(`${p}.eh_proj`),
      inputNorm: await u.plain(`${p}.input_layernorm.weight`),
      attn: await attention(u, cfg, p, 'swa'),
      preMlpNorm: await u.plain(`${p}.pre_mlp_layernorm.weight`),
      ffn: await dense(u, `${p}.mlp`),
      finalNorm: await u.plain(`${p}.final_layernorm.weight`),
    });
  }
  await rt.finish();
  return { embed, lmHead, norm, layers, mtp, bytes: u.bytes };
}
