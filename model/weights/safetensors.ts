/**
 * A lazy safetensors reader: opening a file reads only its 8-byte header length and JSON
 * header; a tensor's bytes come later from one positioned read, so loading a few layers
 * of a 300 GB checkpoint touches only those layers. Everything the header claims is
 * checked against the file before any data is trusted, and every error names the file
 * (and the tensor where there is one).
 *
 * Format (as the Rust `safetensors` crate defines it): u64 little-endian N, N bytes of
 * JSON {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__"?: {str: str}}
 * (padded with spaces), then the data area; offsets are relative to the data area and
 * the tensors tile it exactly, without gaps or overlaps.
 */
import { promises as fsp } from 'node:fs';

/** Bytes per element of every dtype the safetensors format defines that we accept. */
export const DTYPE_SIZE = {
  F64: 8, F32: 4, F16: 2, BF16: 2, F8_E4M3: 1, F8_E5M2: 1,
  I64: 8, I32: 4, I16: 2, I8: 1, U64: 8, U32: 4, U16: 2, U8: 1, BOOL: 1,
} as const;
export type Dtype = keyof typeof DTYPE_SIZE;

export const isDtype = (s: unknown): s is Dtype => typeof s === 'string' && Object.hasOwn(DTYPE_SIZE, s);

/** No real header comes near this (the Rust crate uses the same bound); past it the length field is garbage. */
export const MAX_HEADER_BYTES = 100_000_000;

export interface TensorInfo {
  readonly name: string;
  readonly dtype: Dtype;
  readonly shape: readonly number[];
  /** Absolute byte range in the file. */
  readonly begin: number;
  readonly end: number;
}

export class SafetensorsError extends Error {
  constructor(readonly file: string, readonly tensor: string | null, detail: string) {
    super(`${file}: ${tensor === null ? '' : `tensor '${tensor}': `}${detail}`);
    this.name = 'SafetensorsError';
  }
}

/** The file operations the reader needs; tests wrap them to watch what is read. */
export interface FileIo {
  open(path: string): Promise<OpenFile>;
}
export interface OpenFile {
  readonly size: number;
  /** Fills `into` from byte `position`; returns how many bytes were actually read. */
  read(into: Uint8Array, position: number): Promise<number>;
  close(): Promise<void>;
}

export const nodeFileIo: FileIo = {
  async open(path) {
    const handle = await fsp.open(path, 'r');
    const { size } = await handle.stat();
    return {
      size,
      async read(into, position) {
        let done = 0;
        // A positioned read may return short; loop until the range is full or EOF.
        while (done < into.length) {
          const { bytesRead } = await handle.read(into, done, into.length - done, position + done);
          if (bytesRead === 0) break;
          done += bytesRead;
        }
        return done;
      },
      close: () => handle.close(),
    };
  },
};

export const elementCount = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

export class SafetensorsFile {
  private constructor(
    readonly path: string,
    readonly tensors: ReadonlyMap<string, TensorInfo>,
    readonly metadata: Readonly<Record<string, string>>,
    private readonly file: OpenFile,
  ) {}

  static async open(path: string, io: FileIo = nodeFileIo): Promise<SafetensorsFile> {
    let file: OpenFile;
    try {
      file = await io.open(path);
    } catch (e) {
      throw new SafetensorsError(path, null, `cannot open: ${(e as Error).message}`);
    }
    try {
      const { tensors, metadata } = await readHeader(path, file);
      return new SafetensorsFile(path, tensors, metadata, file);
    } catch (e) {
      await file.close();
      throw e;
    }
  }

  info(name: string): TensorInfo {
    const t = this.tensors.get(name);
    if (!t) throw new SafetensorsError(this.path, name, 'is not in this file');
    return t;
  }

  /** The tensor's raw little-endian bytes, in a fresh (so aligned) buffer. */
  async read(name: string): Promise<Uint8Array> {
    const t = this.info(name);
    const out = new Uint8Array(t.end - t.begin);
    const got = await this.file.read(out, t.begin);
    if (got !== out.length) throw new SafetensorsError(this.path, name, `file ended after ${got} of ${out.length} bytes (truncated while open?)`);
    return out;
  }

  close(): Promise<void> {
    return this.file.close();
  }
}

async function readExactly(path: string, file: OpenFile, length: number, position: number, what: string): Promise<Uint8Array> {
  const buf = new Uint8Array(length);
  const got = await file.read(buf, position);
  if (got !== length) throw new SafetensorsError(path, null, `truncated: ${what} needs ${length} bytes at offset ${position}, only ${got} there`);
  return buf;
}

async function readHeader(path: string, file: OpenFile): Promise<{ tensors: Map<string, TensorInfo>; metadata: Record<string, string> }> {
  if (file.size < 8) throw new SafetensorsError(path, null, `is ${file.size} bytes; a safetensors file starts with an 8-byte header length`);
  const lenBytes = await readExactly(path, file, 8, 0, 'the header length');
  const headerLen = Number(new DataView(lenBytes.buffer).getBigUint64(0, true));
  if (headerLen > MAX_HEADER_BYTES) throw new SafetensorsError(path, null, `header length ${headerLen} exceeds the ${MAX_HEADER_BYTES}-byte limit (not a safetensors file?)`);
  if (8 + headerLen > file.size) throw new SafetensorsError(path, null, `header length ${headerLen} runs past the end of the ${file.size}-byte file`);
  const headerBytes = await readExactly(path, file, headerLen, 8, 'the header');
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch (e) {
    throw new SafetensorsError(path, null, `header is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw new SafetensorsError(path, null, 'header must be a JSON object');
  const dataStart = 8 + headerLen;
  const dataLen = file.size - dataStart;
  const metadata: Record<string, string> = {};
  const entries: TensorInfo[] = [];
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new SafetensorsError(path, null, '__metadata__ must be an object of strings');
      for (const [k, v] of Object.entries(raw)) {
        if (typeof v !== 'string') throw new SafetensorsError(path, null, `__metadata__.${k} must be a string, got ${JSON.stringify(v)}`);
        metadata[k] = v;
      }
      continue;
    }
    entries.push(parseEntry(path, name, raw, dataStart));
  }
  // The tensors must tile the data area exactly, as the Rust crate requires.
  const byOffset = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = dataStart;
  for (const t of byOffset) {
    if (t.begin !== cursor) {
      const rel = (x: number) => x - dataStart;
      const prev = byOffset[byOffset.indexOf(t) - 1];
      throw new SafetensorsError(path, t.name, t.begin < cursor
        ? `data_offsets [${rel(t.begin)}, ${rel(t.end)}] overlap '${prev.name}' which ends at ${rel(cursor)}`
        : `data_offsets start at ${rel(t.begin)}, expected ${rel(cursor)} (a gap after ${prev ? `'${prev.name}'` : 'the header'})`);
    }
    cursor = t.end;
  }
  const needed = cursor - dataStart;
  if (needed > dataLen) {
    const last = byOffset[byOffset.length - 1];
    throw new SafetensorsError(path, last.name, `file is truncated: the data area has ${dataLen} bytes, the tensors need ${needed}`);
  }
  if (needed < dataLen) throw new SafetensorsError(path, null, `data area has ${dataLen} bytes but the tensors cover only ${needed} (trailing bytes)`);
  return { tensors: new Map(entries.map((t) => [t.name, t])), metadata };
}

function parseEntry(path: string, name: string, raw: unknown, dataStart: number): TensorInfo {
  const fail = (detail: string): never => {
    throw new SafetensorsError(path, name, detail);
  };
  if (typeof raw !== 'object' || raw === null) fail('header entry must be an object');
  const { dtype, shape, data_offsets: off } = raw as Record<string, unknown>;
  if (!isDtype(dtype)) fail(`unknown dtype ${JSON.stringify(dtype)}; supported: ${Object.keys(DTYPE_SIZE).join(', ')}`);
  if (!Array.isArray(shape) || shape.some((d) => !Number.isSafeInteger(d) || d < 0)) fail(`shape must be a list of non-negative integers, got ${JSON.stringify(shape)}`);
  if (!Array.isArray(off) || off.length !== 2 || off.some((o) => !Number.isSafeInteger(o) || o < 0)) fail(`data_offsets must be [begin, end] of non-negative integers, got ${JSON.stringify(off)}`);
  const [begin, end] = off as number[];
  if (end < begin) fail(`data_offsets [${begin}, ${end}] are out of order`);
  const d = dtype as Dtype;
  const s = shape as number[];
  const want = elementCount(s) * DTYPE_SIZE[d];
  if (end - begin !== want) fail(`is mis-sized: data_offsets [${begin}, ${end}] hold ${end - begin} bytes, shape [${s.join(', ')}] of ${d} needs ${want}`);
  return { name, dtype: d, shape: s, begin: dataStart + begin, end: dataStart + end };
}
