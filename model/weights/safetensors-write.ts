/**
 * Writes a safetensors file byte for byte as the Rust crate lays it out: the JSON header
 * padded with spaces to a multiple of 8 (so the data area is 8-aligned), tensors in
 * sorted name order with contiguous offsets. A tensor's bytes may be produced on demand
 * (a function), so a 2 GB shard never has to sit in memory next to its header.
 */
import { promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { DTYPE_SIZE, elementCount, type Dtype } from './safetensors.js';

export interface TensorToWrite {
  readonly dtype: Dtype;
  readonly shape: readonly number[];
  readonly data: Uint8Array | (() => Uint8Array);
}

/** The padded header JSON for these tensors, from their dtypes and shapes alone. */
function headerBytes(tensors: Readonly<Record<string, TensorToWrite>>, metadata: Readonly<Record<string, string>>): Uint8Array {
  const json: Record<string, unknown> = {};
  if (Object.keys(metadata).length) json.__metadata__ = metadata;
  let offset = 0;
  for (const name of Object.keys(tensors).sort()) {
    if (name === '__metadata__') throw new Error(`writeSafetensors: '__metadata__' is reserved and cannot name a tensor`);
    const { dtype, shape } = tensors[name];
    if (!Object.hasOwn(DTYPE_SIZE, dtype)) throw new Error(`writeSafetensors: tensor '${name}' has unknown dtype ${JSON.stringify(dtype)}`);
    const bytes = elementCount(shape) * DTYPE_SIZE[dtype];
    json[name] = { dtype, shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  const text = JSON.stringify(json);
  const padded = text + ' '.repeat((8 - (Buffer.byteLength(text) % 8)) % 8);
  return new TextEncoder().encode(padded);
}

/** FileHandle.write may write less than asked (one syscall; Linux caps it near 2 GiB). */
async function writeAll(file: FileHandle, bytes: Uint8Array): Promise<void> {
  for (let done = 0; done < bytes.length;) done += (await file.write(bytes, done, bytes.length - done)).bytesWritten;
}

export async function writeSafetensors(path: string, tensors: Readonly<Record<string, TensorToWrite>>, metadata: Readonly<Record<string, string>> = {}): Promise<void> {
  const header = headerBytes(tensors, metadata);
  const len = new Uint8Array(8);
  new DataView(len.buffer).setBigUint64(0, BigInt(header.length), true);
  const file = await fsp.open(path, 'w');
  try {
    await writeAll(file, len);
    await writeAll(file, header);
    for (const name of Object.keys(tensors).sort()) {
      const { dtype, shape, data } = tensors[name];
      const bytes = typeof data === 'function' ? data() : data;
      const want = elementCount(shape) * DTYPE_SIZE[dtype];
      if (bytes.length !== want) throw new Error(`writeSafetensors: ${path}: tensor '${name}' has ${bytes.length} bytes, shape [${shape.join(', ')}] of ${dtype} needs ${want}`);
      await writeAll(file, bytes);
    }
  } catch (e) {
    // A half-written file would be read later as truncated; leave none.
    await file.close();
    await fsp.rm(path, { force: true });
    throw e;
  }
  await file.close();
}
