/**
 * A checkpoint directory: config.json (either form, through parseConfig) and its weights,
 * one `model.safetensors` or shards listed by `model.safetensors.index.json`. Opening reads
 * only headers; `read` fetches one tensor's bytes. Nothing is ever downloaded.
 */
import { existsSync, promises as fsp, statSync } from 'node:fs';
import path from 'node:path';
import { parseConfig, type MimoConfig } from '../config.js';
import { decode, FORMATS } from '../../compiler/ir/numerics.js';
import { nodeFileIo, SafetensorsFile, type FileIo, type TensorInfo } from './safetensors.js';
import { expectedTensors, MTP_PREFIX } from './names.js';

export const INDEX_FILE = 'model.safetensors.index.json';
export const SINGLE_FILE = 'model.safetensors';

export class CheckpointError extends Error {
  constructor(message: string, readonly problems: readonly string[] = [message]) {
    super(message);
    this.name = 'CheckpointError';
  }
}

export interface CheckpointTensor extends TensorInfo {
  /** The safetensors file holding it. */
  readonly file: string;
}

export interface Checkpoint {
  readonly dir: string;
  readonly config: MimoConfig;
  readonly tensors: ReadonlyMap<string, CheckpointTensor>;
  read(name: string): Promise<Uint8Array>;
  /** Elementwise value of a float tensor (FP8 weights undequantised: multiply by weight_scale_inv yourself). */
  readAsF32(name: string): Promise<Float32Array>;
  close(): Promise<void>;
}

async function readJson(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (e) {
    throw new CheckpointError(`${file}: cannot read: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new CheckpointError(`${file}: not valid JSON: ${(e as Error).message}`);
  }
}

/** name -> shard file from the index, checked for shape. */
async function readIndex(indexPath: string): Promise<Map<string, string>> {
  const raw = await readJson(indexPath);
  const map = (raw as { weight_map?: unknown } | null)?.weight_map;
  if (typeof map !== 'object' || map === null || Array.isArray(map)) throw new CheckpointError(`${indexPath}: 'weight_map' must be an object of tensor name -> file`);
  const out = new Map<string, string>();
  for (const [name, file] of Object.entries(map)) {
    if (typeof file !== 'string' || file.includes('/') || file.includes('\\') || file.startsWith('.')) {
      throw new CheckpointError(`${indexPath}: weight_map['${name}'] must be a plain file name in the checkpoint directory, got ${JSON.stringify(file)}`);
    }
    out.set(name, file);
  }
  return out;
}

export async function openCheckpoint(dir: string, io: FileIo = nodeFileIo): Promise<Checkpoint> {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new CheckpointError(`checkpoint directory ${dir} does not exist (loading never downloads; run mimo-init or point at a local copy)`);
  const configPath = path.join(dir, 'config.json');
  if (!existsSync(configPath)) throw new CheckpointError(`${configPath}: missing (a checkpoint directory needs config.json)`);
  const config = parseConfig(await readJson(configPath), configPath);

  const indexPath = path.join(dir, INDEX_FILE);
  const index = existsSync(indexPath) ? await readIndex(indexPath) : null;
  if (!index && !existsSync(path.join(dir, SINGLE_FILE))) throw new CheckpointError(`${dir}: has neither ${SINGLE_FILE} nor ${INDEX_FILE}`);
  const fileNames = index ? [...new Set(index.values())].sort() : [SINGLE_FILE];
  const files = new Map<string, SafetensorsFile>();
  const closeAll = () => Promise.all([...files.values()].map((f) => f.close()));
  const tensors = new Map<string, CheckpointTensor>();
  try {
    for (const name of fileNames) {
      const full = path.join(dir, name);
      if (!existsSync(full)) throw new CheckpointError(`${indexPath}: lists ${name}, which does not exist`);
      files.set(name, await SafetensorsFile.open(full, io));
    }
    for (const [name, file] of files) {
      for (const t of file.tensors.values()) {
        const listed = index?.get(t.name);
        if (index && listed !== name) {
          throw new CheckpointError(`${file.path}: holds tensor '${t.name}', which ${INDEX_FILE} ${listed ? `assigns to ${listed}` : 'does not list'}`);
        }
        tensors.set(t.name, { ...t, file: file.path });
      }
    }
    for (const [name, file] of index ?? []) {
      if (!tensors.has(name)) throw new CheckpointError(`${path.join(dir, file)}: lacks tensor '${name}', which ${INDEX_FILE} says it holds`);
    }
  } catch (e) {
    await closeAll();
    throw e;
  }

  const info = (name: string): CheckpointTensor => {
    const t = tensors.get(name);
    if (!t) throw new CheckpointError(`${dir}: no tensor '${name}' in the checkpoint`);
    return t;
  };
  const read = (name: string) => files.get(path.basename(info(name).file))!.read(name);
  return {
    dir, config, tensors, read,
    async readAsF32(name) {
      const t = info(name);
      return toF32(t, await read(name));
    },
    close: async () => void (await closeAll()),
  };
}

const NARROW = { BF16: FORMATS.bf16, F16: FORMATS.f16, F8_E4M3: FORMATS.fp8e4m3, F8_E5M2: FORMATS.fp8e5m2 } as const;

function toF32(t: CheckpointTensor, bytes: Uint8Array): Float32Array {
  const buf = bytes.buffer as ArrayBuffer;
  switch (t.dtype) {
    case 'F32': return new Float32Array(buf, bytes.byteOffset, bytes.length / 4);
    case 'F64': return Float32Array.from(new Float64Array(buf, bytes.byteOffset, bytes.length / 8));
    case 'I32': return Float32Array.from(new Int32Array(buf, bytes.byteOffset, bytes.length / 4));
    case 'BF16': case 'F16': case 'F8_E4M3': case 'F8_E5M2': {
      const fmt = NARROW[t.dtype];
      const bits = t.dtype === 'BF16' || t.dtype === 'F16' ? new Uint16Array(buf, bytes.byteOffset, bytes.length / 2) : bytes;
      // A 256/65536-entry table: decoding 1e9 weights one by one would dominate load time.
      const table = Float32Array.from({ length: 1 << (8 * (bits.BYTES_PER_ELEMENT)) }, (_, b) => decode(fmt, b));
      const out = new Float32Array(bits.length);
      for (let i = 0; i < bits.length; i++) out[i] = table[bits[i]];
      return out;
    }
    default:
      throw new CheckpointError(`${t.file}: tensor '${t.name}' is ${t.dtype}; readAsF32 converts F32, F64, I32, BF16, F16, F8_E4M3 and F8_E5M2`);
  }
}

export interface ValidateOptions {
  /** A checkpoint with no `model.mtp.*` tensor at all is valid (save_pretrained drops them). Default true. */
  readonly allowMissingMtp?: boolean;
}

/** How many problems the error message spells out; the rest are in `problems`. */
const SHOWN = 8;

/**
 * Checks every expected tensor is present with its shape and dtype, and nothing else is.
 * Throws one CheckpointError listing every problem; returns whether MTP layers are present.
 */
export function validateCheckpoint(ckpt: Checkpoint, opts: ValidateOptions = {}): { hasMtp: boolean } {
  const names = [...ckpt.tensors.keys()];
  const hasMtp = ckpt.config.mtpLayers > 0 && names.some((n) => n.startsWith(MTP_PREFIX));
  const mtpRequired = !(opts.allowMissingMtp ?? true);
  const expected = expectedTensors(ckpt.config, { fp8: ckpt.config.quant !== null, mtp: hasMtp || mtpRequired });
  const problems: string[] = [];
  const where = (t: CheckpointTensor) => path.relative(ckpt.dir, t.file);
  for (const e of expected) {
    const t = ckpt.tensors.get(e.name);
    if (!t) {
      problems.push(`missing tensor '${e.name}' (expected [${e.shape.join(', ')}] ${e.accept.join(' or ')})`);
      continue;
    }
    if (t.shape.length !== e.shape.length || t.shape.some((d, i) => d !== e.shape[i])) {
      problems.push(`tensor '${e.name}' in ${where(t)}: wrong shape: expected [${e.shape.join(', ')}], got [${t.shape.join(', ')}]`);
    }
    if (!e.accept.includes(t.dtype)) problems.push(`tensor '${e.name}' in ${where(t)}: wrong dtype: expected ${e.accept.join(' or ')}, got ${t.dtype}`);
  }
  const known = new Set(expected.map((e) => e.name));
  for (const t of ckpt.tensors.values()) {
    if (!known.has(t.name)) problems.push(`unexpected tensor '${t.name}' in ${where(t)} ([${t.shape.join(', ')}] ${t.dtype}; not part of this config${ckpt.config.quant ? ' (FP8)' : ' (BF16)'})`);
  }
  if (problems.length) {
    const more = problems.length > SHOWN ? `; ... and ${problems.length - SHOWN} more` : '';
    // One line, so a CLI can print it as its one-line error.
    throw new CheckpointError(`${ckpt.dir}: ${problems.length} problem(s) with the weights: ${problems.slice(0, SHOWN).join('; ')}${more}`, problems);
  }
  return { hasMtp };
}

