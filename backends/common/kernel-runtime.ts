/**
 * What the model graph (model/) needs of a device, so that it runs on any backend by a
 * flag: WebGpuRuntime (backends/webgpu/runtime.ts), CudaEmuRuntime (generated CUDA on
 * the CPU emulator, backends/cuda/emu-runtime.ts) and CudaRuntime (a real GPU).
 *
 * Ordering: launch(), copy() and write() take effect in the order they are called, each
 * after everything called before it on this runtime; download() sees all of them. A
 * backend may defer the work (WebGPU records one command encoder per step), so a launch's
 * device-side failure may only surface at the next finish(), which waits for everything
 * called so far and throws what the device rejected, naming each kernel.
 */
import { BYTES, type DType } from '../../compiler/ir/types.js';
import type { ManifestKernel } from '../../compiler/codegen/manifest.js';
import { KernelArgError, checkLaunch, describeValue, type HostArray, type LaunchLimits, type LaunchSignature } from '../../compiler/launch/args.js';

/** A device allocation of `size` bytes (a GPUBuffer is one as it is). */
export interface DeviceBuffer {
  readonly size: number;
  /** Frees it; a tensor over it must not be used afterwards. */
  destroy(): void;
}

/**
 * `length` elements of `dtype` starting `offset` bytes into `buffer` (default 0). The
 * buffer may be larger than the tensor: a tensor with an offset is a view (e.g. one
 * sequence's slice of a KV cache) and binds only its own bytes; its offset must be a
 * multiple of the runtime's `viewAlignment`.
 */
export interface DeviceTensor<B extends DeviceBuffer = DeviceBuffer> {
  readonly buffer: B;
  readonly dtype: DType;
  readonly length: number;
  readonly offset?: number;
}

/** Bytes a buffer for `n` elements of `dtype` takes: whole 4-byte words, at least one (WebGPU binds words). */
export const tensorBytes = (dtype: DType, n: number) => Math.max(4, Math.ceil((n * BYTES[dtype]) / 4) * 4);

export type BackendName = 'webgpu' | 'cuda-emu' | 'cuda';
export const BACKENDS: readonly BackendName[] = ['webgpu', 'cuda-emu', 'cuda'];

/**
 * Per-kernel device time, where a backend can measure it (WebGPU: timestamp queries).
 * Between start() and stop() every launch is timed; stop() comes after a finish() and
 * returns the launches' summed device time in ms.
 */
export interface KernelTimer {
  start(): void;
  stop(): Promise<number>;
}

export interface KernelRuntime<B extends DeviceBuffer = DeviceBuffer> {
  readonly backend: BackendName;
  /** The most bytes one tensor argument may span. */
  readonly maxBindingBytes: number;
  /** What a view's byte offset must be a multiple of. */
  readonly viewAlignment: number;

  /** An uninitialised buffer of `bytes` bytes (a multiple of 4); `label` names it in errors. */
  createBuffer(bytes: number, label?: string): B;
  /** A new buffer holding `data` (narrow types as bit patterns, little-endian). */
  upload(dtype: DType, data: HostArray): DeviceTensor<B>;
  /** A new uninitialised tensor. */
  allocate(dtype: DType, length: number): DeviceTensor<B>;
  download(t: DeviceTensor<B>): Promise<HostArray>;
  /** Host bytes into `buffer` at `byteOffset` (both multiples of 4), ordered like a launch. */
  write(buffer: B, byteOffset: number, data: ArrayBufferView): void;
  /** The manifest entry of kernel `name` (its shapes, tunables and consts as generated), or an error listing those there are. */
  kernel(name: string): ManifestKernel;
  /** One launch of generated kernel `name`, checked against its manifest entry before it is recorded. */
  launch(name: string, tensors: Readonly<Record<string, DeviceTensor<B>>>, scalars: Readonly<Record<string, number>>): Promise<void>;
  /** `bytes` bytes from src[srcByteOffset..] to dst[dstByteOffset..]; offsets and size multiples of 4. */
  copy(src: B, srcByteOffset: number, dst: B, dstByteOffset: number, bytes: number): void;
  /** Waits for everything called so far; throws what the device rejected of it. */
  finish(): Promise<void>;
  /** Absent where the backend cannot time kernels. */
  readonly timer?: KernelTimer;
  /** Releases the backend's own resources (a server process, a context); buffers are the caller's. */
  close(): void;
}

/** Refuses a copy that is unaligned or runs past either buffer, naming both ends. */
export function checkCopy(src: DeviceBuffer, srcByteOffset: number, dst: DeviceBuffer, dstByteOffset: number, bytes: number): void {
  const ok = (x: number) => Number.isInteger(x) && x >= 0 && x % 4 === 0;
  if (!ok(srcByteOffset) || !ok(dstByteOffset) || !ok(bytes)) {
    throw new RangeError(`copy of ${bytes} bytes from offset ${srcByteOffset} to offset ${dstByteOffset}: offsets and size must be non-negative multiples of 4`);
  }
  if (srcByteOffset + bytes > src.size || dstByteOffset + bytes > dst.size) {
    throw new RangeError(`copy of ${bytes} bytes from offset ${srcByteOffset} of a ${src.size}-byte buffer to offset ${dstByteOffset} of a ${dst.size}-byte buffer runs past the end`);
  }
}

/** Refuses a write that is unaligned or runs past the buffer. */
export function checkWrite(buffer: DeviceBuffer, byteOffset: number, bytes: number): void {
  if (!Number.isInteger(byteOffset) || byteOffset < 0 || byteOffset % 4 || bytes % 4) {
    throw new RangeError(`write of ${bytes} bytes at offset ${byteOffset}: offset and size must be non-negative multiples of 4`);
  }
  if (byteOffset + bytes > buffer.size) throw new RangeError(`write of ${bytes} bytes at offset ${byteOffset} runs past a ${buffer.size}-byte buffer`);
}

const isDeviceTensor = (t: unknown): t is DeviceTensor =>
  typeof t === 'object' && t !== null && typeof (t as DeviceTensor).buffer?.size === 'number' && Number.isInteger((t as DeviceTensor).length);

/**
 * checkLaunch (args.ts) for resident tensors: run()'s messages for unknown and missing
 * names, then every present tensor's kind, dtype and element count; returns the grid.
 */
export function checkResidentLaunch(m: LaunchSignature, tensors: unknown, scalars: unknown, limits: LaunchLimits): [number, number, number] {
  // The resident tensors stand in for host arrays; every present one is measured by the callback, never read as an array.
  return checkLaunch(m, { tensors, scalars }, (n) => {
    const t = (tensors as Readonly<Record<string, unknown>>)[n];
    if (t === undefined) return undefined;
    if (!isDeviceTensor(t)) throw new KernelArgError(m.name, n, `expected a DeviceTensor { buffer, dtype, length }, got ${describeValue(t)}`);
    const want = m.bindings.find((b) => b.name === n)!.dtype;
    if (t.dtype !== want) throw new KernelArgError(m.name, n, `expected dtype ${want}, got ${t.dtype}`);
    return t.length;
  }, limits).grid;
}

/**
 * `cache`'s promise for `key`, made by `make` on first use: concurrent first launches of a
 * kernel share one build; a failed build is forgotten, so a later launch tries again.
 */
export function sharedBuild<T>(cache: Map<string, Promise<T>>, key: string, make: () => Promise<T>): Promise<T> {
  let p = cache.get(key);
  if (!p) {
    p = make();
    cache.set(key, p);
    p.catch(() => cache.delete(key));
  }
  return p;
}

/** A manifest's entry for `name`, or an error listing the kernels it has. */
export function kernelEntry(kernels: Readonly<Record<string, ManifestKernel>>, name: string): ManifestKernel {
  const m = kernels[name];
  if (!m) throw new Error(`unknown kernel '${name}' (have: ${Object.keys(kernels).join(', ')})`);
  return m;
}
