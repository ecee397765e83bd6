/**
 * A minimal safetensors reader for the reference's comparison with transformers
 * (test/model-reference.test.ts): BF16 and F32 tensors of one file or of a sharded
 * `model.safetensors.index.json`, as float64. Written here rather than taken from the
 * runtime's loader so that the reference and the code it checks share no reading code.
 * Format: an 8-byte little-endian header length, a JSON header {name: {dtype, shape,
 * data_offsets}} (offsets relative to the end of the header), then the raw bytes.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

function decode(dtype: string, bytes: Buffer, name: string, file: string): Float64Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const f32 = new Float32Array(1);
  const u32 = new Uint32Array(f32.buffer);
  switch (dtype) {
    case 'F32':
      return Float64Array.from({ length: bytes.length / 4 }, (_, i) => view.getFloat32(4 * i, true));
    case 'BF16':
      return Float64Array.from({ length: bytes.length / 2 }, (_, i) => {
        u32[0] = view.getUint16(2 * i, true) << 16;
        return f32[0];
      });
    default:
      throw new Error(`${file}: tensor '${name}' has dtype ${dtype}; this reader takes BF16 and F32`);
  }
}

function readFile(file: string, into: Map<string, Float64Array>): void {
  const buf = readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const [a, b] = t.data_offsets;
    const values = decode(t.dtype, buf.subarray(8 + n + a, 8 + n + b), name, file);
    const want = t.shape.reduce((x, y) => x * y, 1);
    if (values.length !== want) throw new Error(`${file}: tensor '${name}' has ${values.length} values for shape [${t.shape.join(', ')}]`);
    into.set(name, values);
  }
}

/** Every tensor of the checkpoint in `dir`, by name. */
export function readCheckpoint(dir: string): Map<string, Float64Array> {
  const out = new Map<string, Float64Array>();
  const index = path.join(dir, 'model.safetensors.index.json');
  if (existsSync(index)) {
    const map = (JSON.parse(readFileSync(index, 'utf8')) as { weight_map: Record<string, string> }).weight_map;
    for (const shard of new Set(Object.values(map))) readFile(path.join(dir, shard), out);
  } else {
    readFile(path.join(dir, 'model.safetensors'), out);
  }
  return out;
}
