/**
 * The KernelRuntime (backends/common/kernel-runtime.ts) on generated CUDA run by the CPU
 * emulator: one persistent server process (emu/server-source.ts) built from the .cu files
 * of generated/cuda, holding device memory across launches, so that the model graph
 * (model/) runs through the CUDA sources end to end by a flag. Every launch is checked
 * against the CUDA manifest as CudaHostRunner checks it; the emulator runs launches one
 * after another, in the order they are issued.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ManifestKernel } from '../../compiler/codegen/manifest.js';
import { PACKAGE_ROOT as REPO_ROOT } from '../../compiler/common/package-root.js';
import { BYTES, type DType } from '../../compiler/ir/types.js';
import { CUDA_MAX_GRID, HOST_ARRAY, KernelArgError, type HostArray } from '../../compiler/launch/args.js';
import {
  checkCopy, checkResidentLaunch, checkWrite, kernelEntry, tensorBytes, type DeviceBuffer, type DeviceTensor, type KernelRuntime,
} from '../common/kernel-runtime.js';
import { buildServer } from './emu/server-build.js';
import { ServerClient } from './emu/server-client.js';
import { OP } from './emu/server-source.js';

/** Generated CUDA as mimo-compile writes it: the manifest and each kernel's source. */
export interface CudaModule {
  readonly manifest: { readonly kernels: Readonly<Record<string, ManifestKernel>> };
  readonly sources: Readonly<Record<string, string>>;
}

export interface CudaEmuOptions {
  /** The kernels to build into the server (default: every kernel of the module). */
  readonly kernels?: readonly string[];
  /** Longest wait for one answer of the server, in ms (default 600000): a kernel that never ends is killed and reported. */
  readonly timeoutMs?: number;
}

/** A buffer in the server's memory. */
export class EmuBuffer implements DeviceBuffer {
  destroyed = false;
  constructor(readonly owner: CudaEmuRuntime, readonly id: number, readonly size: number, readonly label?: string) {}

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.owner.release(this);
  }
}

/** Reads a generated CUDA folder (default generated/cuda). */
export function readCudaModule(dir = path.join(REPO_ROOT, 'generated', 'cuda')): CudaModule {
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as CudaModule['manifest'];
  const sources = Object.fromEntries(Object.values(manifest.kernels).map((k) => [k.name, fs.readFileSync(path.join(dir, k.file), 'utf8')]));
  return { manifest, sources };
}

const u32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v);
  return b;
};

export class CudaEmuRuntime implements KernelRuntime<EmuBuffer> {
  readonly backend = 'cuda-emu' as const;
  /** Host memory: no binding limit of its own (element counts are checked against i32 indexing at launch). */
  readonly maxBindingBytes = Number.MAX_SAFE_INTEGER;
  /** WebGPU's rule, so that a graph valid here is valid there. */
  readonly viewAlignment = 256;
  private nextId = 0;
  private readonly freeIds: number[] = [];

  private constructor(readonly module: CudaModule, private readonly server: ServerClient, private readonly index: ReadonlyMap<string, number>, readonly buildMs: number) {}

  /** Builds (or reuses from .cache/cuda-emu) the server for `module` and starts it. */
  static async open(module: CudaModule = readCudaModule(), opts: CudaEmuOptions = {}): Promise<CudaEmuRuntime> {
    const timeoutMs = opts.timeoutMs ?? 600_000;
    if (!(Number.isInteger(timeoutMs) && timeoutMs > 0)) throw new RangeError(`CudaEmuRuntime: timeoutMs must be a positive integer, got ${opts.timeoutMs}`);
    const build = await buildServer(module.manifest.kernels, module.sources, opts.kernels ?? Object.keys(module.manifest.kernels));
    const index = new Map(build.kernels.map((n, i) => [n, i]));
    return new CudaEmuRuntime(module, new ServerClient(build.exe, timeoutMs), index, build.buildMs);
  }

  kernel(name: string): ManifestKernel {
    const m = kernelEntry(this.module.manifest.kernels, name);
    if (!this.index.has(name)) throw new Error(`[kernel ${name}] is not built into this CudaEmuRuntime (built: ${[...this.index.keys()].join(', ')})`);
    return m;
  }

  private own(b: unknown, what: string): EmuBuffer {
    if (!(b instanceof EmuBuffer) || b.owner !== this) throw new TypeError(`${what}: the buffer is not one of this CudaEmuRuntime's`);
    if (b.destroyed) throw new Error(`${what}: the buffer${b.label ? ` '${b.label}'` : ''} was destroyed`);
    return b;
  }

  createBuffer(bytes: number, label?: string): EmuBuffer {
    if (!Number.isInteger(bytes) || bytes <= 0 || bytes % 4) throw new RangeError(`buffer${label ? ` '${label}'` : ''} of ${bytes} bytes: the size must be a positive multiple of 4`);
    const id = this.freeIds.pop() ?? this.nextId++;
    const cmd = Buffer.alloc(16);
    cmd.writeUInt32LE(OP.ALLOC, 0);
    cmd.writeUInt32LE(id, 4);
    cmd.writeBigUInt64LE(BigInt(bytes), 8);
    this.server.send(cmd);
    return new EmuBuffer(this, id, bytes, label);
  }

  /** EmuBuffer.destroy(): the id is free for the next buffer once the server has freed it (commands are in order). */
  release(b: EmuBuffer): void {
    // After close() the server and its memory are gone already.
    if (this.server.closed) return;
    this.server.send(Buffer.concat([u32(OP.FREE), u32(b.id)]));
    this.freeIds.push(b.id);
  }

  private sendWrite(b: EmuBuffer, at: number, data: ArrayBufferView): void {
    const head = Buffer.alloc(24);
    head.writeUInt32LE(OP.WRITE, 0);
    head.writeUInt32LE(b.id, 4);
    head.writeBigUInt64LE(BigInt(at), 8);
    head.writeBigUInt64LE(BigInt(data.byteLength), 16);
    // Copied: the caller may reuse its array before the pipe drains.
    this.server.send(Buffer.concat([head, Buffer.from(data.buffer, data.byteOffset, data.byteLength)]));
  }

  upload(dtype: DType, data: HostArray): DeviceTensor<EmuBuffer> {
    const buffer = this.createBuffer(tensorBytes(dtype, data.length), `upload of ${dtype}[${data.length}]`);
    this.sendWrite(buffer, 0, data);
    return { buffer, dtype, length: data.length };
  }

  allocate(dtype: DType, length: number): DeviceTensor<EmuBuffer> {
    return { buffer: this.createBuffer(tensorBytes(dtype, length), `allocation of ${dtype}[${length}]`), dtype, length };
  }

  write(buffer: EmuBuffer, byteOffset: number, data: ArrayBufferView): void {
    const b = this.own(buffer, `write of ${data.byteLength} bytes`);
    checkWrite(b, byteOffset, data.byteLength);
    this.sendWrite(b, byteOffset, data);
  }

  copy(src: EmuBuffer, srcByteOffset: number, dst: EmuBuffer, dstByteOffset: number, bytes: number): void {
    const what = `copy of ${bytes} bytes`;
    const [s, d] = [this.own(src, what), this.own(dst, what)];
    checkCopy(s, srcByteOffset, d, dstByteOffset, bytes);
    if (!bytes) return;
    const cmd = Buffer.alloc(36);
    cmd.writeUInt32LE(OP.COPY, 0);
    cmd.writeUInt32LE(s.id, 4);
    cmd.writeBigUInt64LE(BigInt(srcByteOffset), 8);
    cmd.writeUInt32LE(d.id, 16);
    cmd.writeBigUInt64LE(BigInt(dstByteOffset), 20);
    cmd.writeBigUInt64LE(BigInt(bytes), 28);
    this.server.send(cmd);
  }

  async download(t: DeviceTensor<EmuBuffer>): Promise<HostArray> {
    const what = `download of ${t.dtype}[${t.length}]`;
    const b = this.own(t.buffer, what);
    const out = HOST_ARRAY[t.dtype as Exclude<DType, 'bool'>].create(t.length);
    const at = t.offset ?? 0;
    if (at + out.byteLength > b.size) throw new RangeError(`${what} at offset ${at} runs past a ${b.size}-byte buffer`);
    const cmd = Buffer.alloc(24);
    cmd.writeUInt32LE(OP.READ, 0);
    cmd.writeUInt32LE(b.id, 4);
    cmd.writeBigUInt64LE(BigInt(at), 8);
    cmd.writeBigUInt64LE(BigInt(out.byteLength), 16);
    const data = await this.server.request(cmd, out.byteLength);
    new Uint8Array(out.buffer).set(data);
    return out;
  }

  async launch(name: string, tensors: Readonly<Record<string, DeviceTensor<EmuBuffer>>>, scalars: Readonly<Record<string, number>>): Promise<void> {
    const m = this.kernel(name);
    checkResidentLaunch(m, tensors, scalars, { maxGrid: CUDA_MAX_GRID });
    const cmd = Buffer.alloc(8 + 12 * m.bindings.length + 8 * m.scalars.length);
    cmd.writeUInt32LE(OP.LAUNCH, 0);
    cmd.writeUInt32LE(this.index.get(name)!, 4);
    m.bindings.forEach((binding, i) => {
      const t = tensors[binding.name];
      const b = this.own(t.buffer, `[kernel ${name}] argument '${binding.name}'`);
      const at = t.offset ?? 0;
      const bytes = Math.ceil(t.length * BYTES[t.dtype]);
      if (!Number.isInteger(at) || at < 0 || at % this.viewAlignment || at + bytes > b.size) {
        throw new KernelArgError(name, binding.name, `${t.dtype}[${t.length}] at offset ${at} does not fit a ${b.size}-byte buffer at a ${this.viewAlignment}-byte-aligned offset`);
      }
      cmd.writeUInt32LE(b.id, 8 + 12 * i);
      cmd.writeBigUInt64LE(BigInt(at), 12 + 12 * i);
    });
    m.scalars.forEach((s, i) => cmd.writeDoubleLE(scalars[s.name], 8 + 12 * m.bindings.length + 8 * i));
    this.server.recent.add(name);
    this.server.send(cmd);
  }

  async finish(): Promise<void> {
    const failures = (await this.server.request(u32(OP.SYNC))).toString();
    if (failures) throw new Error(failures.trimEnd());
  }

  close(): void {
    this.server.close();
  }
}
