/**
 * The KernelRuntime (backends/common/kernel-runtime.ts) on a real NVIDIA GPU through the
 * CUDA Driver API (the native addon, backends/cuda/native/): each generated .cu is built by
 * nvcc into a cubin for the device's compute capability on first use (cached by content
 * hash), loaded with cuModuleLoadData and launched with the manifest's grid and block on one
 * stream, in call order. Every launch is checked against the CUDA manifest first, as the
 * WebGPU runtime checks it. Without a driver or a device, openCuda() throws why.
 */
import fs from 'node:fs';
import type { ManifestKernel } from '../../compiler/codegen/manifest.js';
import { BYTES, type DType } from '../../compiler/ir/types.js';
import { CUDA_MAX_GRID, HOST_ARRAY, KernelArgError, checkLaunch, type HostArray, type LaunchArgs } from '../../compiler/launch/args.js';
import {
  checkCopy, checkResidentLaunch, checkWrite, kernelEntry, sharedBuild, tensorBytes, type DeviceBuffer, type DeviceTensor, type KernelRuntime,
} from '../common/kernel-runtime.js';
import { tunedVariant } from '../../compiler/launch/variants.js';
import { readCudaModule, type CudaModule } from './emu-runtime.js';
import { cudaDevice } from './fingerprint.js';
import { compileCubin, cubinArch } from './cubin.js';
import { nativeCuda, type CudaDeviceInfo, type CudaProbe, type Handle, type NativeCuda } from './native.js';
import { CudaTimer } from './timer.js';

export type { CudaDeviceInfo, CudaProbe } from './native.js';

/** A device allocation (cuMemAlloc). */
export class CudaBuffer implements DeviceBuffer {
  destroyed = false;
  constructor(readonly owner: CudaRuntime, readonly ptr: Handle, readonly size: number, readonly label?: string) {}

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.owner.release(this);
  }
}

/** The CUDA device the runtime runs on. */
export interface CudaDevice extends CudaDeviceInfo {
  readonly ordinal: number;
  /** nvcc's -arch for it (cubinArch). */
  readonly arch: string;
  /** Its autotuning fingerprint (tuning/<fingerprint>.json), where nvidia-smi names it; tuned variants apply only under it. */
  readonly fingerprint?: string;
}

const PARAM: Partial<Record<DType, string>> = { i32: 'i', u32: 'u', f32: 'f' };

/**
 * The parameter types of a kernel's __global__ function for the addon's launch(), one
 * letter each: emitCuda passes every tensor as a pointer, in binding order, then every
 * scalar by value in the manifest's order.
 */
export function launchParamTypes(m: ManifestKernel): string {
  const scalars = m.scalars.map((s) => {
    const t = PARAM[s.dtype];
    if (!t) throw new Error(`[kernel ${m.name}] scalar '${s.name}' is ${s.dtype}, which CudaRuntime cannot pass (expected i32, u32 or f32)`);
    return t;
  });
  return 'p'.repeat(m.bindings.length) + scalars.join('');
}

interface LoadedKernel {
  readonly fn: Handle;
  readonly types: string;
}

/** No usable CUDA device here; the message says why (no driver, cuInit's error, no device). */
export class NoCudaDeviceError extends Error {
  override name = 'NoCudaDeviceError';
}

/** What the driver finds, without opening a device: the devices, or why there are none. */
export const probeCuda = (): CudaProbe => nativeCuda().probe();

/**
 * The runtime on CUDA device `device` (default 0) for `module` (default generated/cuda).
 * Throws "no CUDA device: ..." with the driver's reason when there is none. One device per
 * process: the context is made current on the calling thread.
 */
export async function openCuda(opts: { readonly module?: CudaModule; readonly device?: number } = {}): Promise<CudaRuntime> {
  const native = nativeCuda();
  const probe = native.probe();
  if (!probe.ok) throw new NoCudaDeviceError(probe.reason);
  const ordinal = opts.device ?? 0;
  const info = probe.devices[ordinal];
  if (!Number.isInteger(ordinal) || !info) {
    throw new RangeError(`openCuda: device ${ordinal} does not exist (the driver reports ${probe.devices.length}: ${probe.devices.map((d, i) => `${i} ${d.name}`).join(', ')})`);
  }
  let arch: string;
  try {
    arch = cubinArch(info.cc);
  } catch (e) {
    throw new Error(`CUDA device ${ordinal} (${info.name}): ${(e as Error).message}`);
  }
  const module = opts.module ?? readCudaModule();
  const fingerprint = Object.values(module.manifest.kernels).some((k) => k.variants?.length) ? tuningFingerprint(info) : undefined;
  const { context, stream } = native.open(ordinal);
  return new CudaRuntime(native, module, { ...info, ordinal, arch, fingerprint }, context, stream);
}

/** The autotuner's fingerprint of this device; asked (nvidia-smi) only when some kernel has tuned variants. */
function tuningFingerprint(info: CudaDeviceInfo): string | undefined {
  const d = cudaDevice();
  // nvidia-smi's first GPU: a fingerprint of another model would apply its winners here.
  return d?.name === info.name ? d.fingerprint : undefined;
}

export class CudaRuntime implements KernelRuntime<CudaBuffer> {
  readonly backend = 'cuda' as const;
  /** cuMemAlloc's own alignment, and WebGPU's rule, so that a graph valid on one is valid on the other. */
  readonly viewAlignment = 256;
  readonly timer: CudaTimer;
  private readonly kernels = new Map<string, LoadedKernel>();
  private readonly loading = new Map<string, Promise<LoadedKernel>>();
  private readonly modules: Handle[] = [];
  /** Kernels launched since the last finish(), which a failure found there is reported against. */
  private pending = new Set<string>();
  private closed = false;

  constructor(private readonly native: NativeCuda, readonly module: CudaModule, readonly device: CudaDevice, private readonly context: Handle, private readonly stream: Handle) {
    this.timer = new CudaTimer(native, context, stream);
  }

  /** Tensors are indexed with i32 element counts (checked at launch); bytes are bounded only by the device's memory. */
  get maxBindingBytes(): number {
    return this.device.memBytes;
  }

  kernel(name: string): ManifestKernel {
    return kernelEntry(this.module.manifest.kernels, name);
  }

  /** The tuned variant of `name` for these shape symbols if one was tuned for their bucket on this device (as WebGpuRuntime.resolve). */
  resolve(name: string, scalars: Readonly<Record<string, number>>): ManifestKernel {
    const m = this.kernel(name);
    const variant = tunedVariant(m, this.device.fingerprint, scalars);
    return variant ? this.kernel(variant) : m;
  }

  private live(what: string): void {
    if (this.closed) throw new Error(`${what}: the CudaRuntime is closed`);
  }

  private own(b: unknown, what: string): CudaBuffer {
    this.live(what);
    if (!(b instanceof CudaBuffer) || b.owner !== this) throw new TypeError(`${what}: the buffer is not one of this CudaRuntime's`);
    if (b.destroyed) throw new Error(`${what}: the buffer${b.label ? ` '${b.label}'` : ''} was destroyed`);
    return b;
  }

  /** A driver call, its error prefixed with what it was for. */
  private call<T>(what: string, f: () => T): T {
    try {
      return f();
    } catch (e) {
      throw new Error(`${what}: ${(e as Error).message}`);
    }
  }

  createBuffer(bytes: number, label?: string): CudaBuffer {
    const what = `buffer${label ? ` '${label}'` : ''} of ${bytes} bytes`;
    this.live(what);
    if (!Number.isInteger(bytes) || bytes <= 0 || bytes % 4) throw new RangeError(`${what}: the size must be a positive multiple of 4`);
    const ptr = this.call(what, () => this.native.memAlloc(bytes));
    // WebGPU zeroes new buffers; so does this, so that a graph reading a byte it never wrote
    // gives the same answer on both.
    this.call(what, () => this.native.memset(ptr, 0, bytes, this.stream));
    return new CudaBuffer(this, ptr, bytes, label);
  }

  /** CudaBuffer.destroy(); after close() the context and its memory are gone already. */
  release(b: CudaBuffer): void {
    if (!this.closed) this.call(`freeing buffer${b.label ? ` '${b.label}'` : ''}`, () => this.native.memFree(b.ptr));
  }

  upload(dtype: DType, data: HostArray): DeviceTensor<CudaBuffer> {
    const what = `upload of ${dtype}[${data.length}]`;
    if (data.BYTES_PER_ELEMENT !== BYTES[dtype]) throw new TypeError(`${what}: a ${data.constructor.name} has ${data.BYTES_PER_ELEMENT}-byte elements, ${dtype} has ${BYTES[dtype]}`);
    const buffer = this.createBuffer(tensorBytes(dtype, data.length), what);
    if (data.byteLength) this.call(what, () => this.native.upload(buffer.ptr, data, this.stream));
    return { buffer, dtype, length: data.length };
  }

  allocate(dtype: DType, length: number): DeviceTensor<CudaBuffer> {
    return { buffer: this.createBuffer(tensorBytes(dtype, length), `allocation of ${dtype}[${length}]`), dtype, length };
  }

  write(buffer: CudaBuffer, byteOffset: number, data: ArrayBufferView): void {
    const what = `write of ${data.byteLength} bytes`;
    const b = this.own(buffer, what);
    checkWrite(b, byteOffset, data.byteLength);
    if (data.byteLength) this.call(what, () => this.native.upload(b.ptr + BigInt(byteOffset), data, this.stream));
  }

  copy(src: CudaBuffer, srcByteOffset: number, dst: CudaBuffer, dstByteOffset: number, bytes: number): void {
    const what = `copy of ${bytes} bytes`;
    const [s, d] = [this.own(src, what), this.own(dst, what)];
    checkCopy(s, srcByteOffset, d, dstByteOffset, bytes);
    if (bytes) this.call(what, () => this.native.copy(d.ptr + BigInt(dstByteOffset), s.ptr + BigInt(srcByteOffset), bytes, this.stream));
  }

  /** Queued at the call, so it reads what the work called before it wrote; settles once that is done. */
  async download(t: DeviceTensor<CudaBuffer>): Promise<HostArray> {
    const what = `download of ${t.dtype}[${t.length}]`;
    const b = this.own(t.buffer, what);
    const out = HOST_ARRAY[t.dtype as Exclude<DType, 'bool'>].create(t.length);
    const at = t.offset ?? 0;
    if (!Number.isInteger(at) || at < 0 || at + out.byteLength > b.size) throw new RangeError(`${what} at offset ${at} runs past a ${b.size}-byte buffer`);
    let bytes: ArrayBuffer;
    try {
      bytes = this.native.download(b.ptr + BigInt(at), out.byteLength, this.stream);
    } catch (e) {
      throw new Error(`${this.blame()}${what}: ${(e as Error).message}`);
    }
    new Uint8Array(out.buffer).set(new Uint8Array(bytes));
    return out;
  }

  /** The device address a launch passes for tensor argument `arg`: its buffer's plus its view offset, checked to fit. */
  private pointer(kernel: string, arg: string, t: DeviceTensor<CudaBuffer>): Handle {
    const b = this.own(t.buffer, `[kernel ${kernel}] argument '${arg}'`);
    const at = t.offset ?? 0;
    const bytes = Math.ceil(t.length * BYTES[t.dtype]);
    if (!Number.isInteger(at) || at < 0 || at % this.viewAlignment || at + bytes > b.size) {
      throw new KernelArgError(kernel, arg, `${t.dtype}[${t.length}] at offset ${at} does not fit a ${b.size}-byte buffer at a ${this.viewAlignment}-byte-aligned offset`);
    }
    return b.ptr + BigInt(at);
  }

  /**
   * One launch of `name` on resident tensors, queued on the stream. It is queued before the
   * returned promise settles and, once the kernel's cubin is loaded (its first launch awaits
   * nvcc), before this call returns, so it keeps its place among copy() and write() calls.
   */
  async launch(name: string, tensors: Readonly<Record<string, DeviceTensor<CudaBuffer>>>, scalars: Readonly<Record<string, number>>): Promise<void> {
    this.live(`kernel ${name}`);
    const m = this.resolve(name, scalars);
    const grid = checkResidentLaunch(m, tensors, scalars, { maxGrid: CUDA_MAX_GRID });
    if (grid.some((g) => g === 0)) return;
    const values: (bigint | number)[] = m.bindings.map((b) => this.pointer(m.name, b.name, tensors[b.name]));
    for (const s of m.scalars) values.push(scalars[s.name]);
    const k = this.kernels.get(m.name) ?? (await this.load(m));
    this.live(`kernel ${m.name}`);
    // A kernel's shared arena past 48 KiB is dynamic shared memory; build() opted the function in.
    const smem = m.dynamicSharedBytes ?? 0;
    this.timer.around(() => this.call(`[kernel ${m.name}]`, () => this.native.launch(k.fn, grid, m.workgroupSize, smem, this.stream, k.types, values)));
    this.pending.add(m.name);
  }

  /** The kernel's function from its cubin; concurrent first launches share the build. */
  private load(m: ManifestKernel): Promise<LoadedKernel> {
    return sharedBuild(this.loading, m.name, () => this.build(m));
  }

  private async build(m: ManifestKernel): Promise<LoadedKernel> {
    const symbol = m.kernelSymbol;
    if (!symbol) throw new Error(`[kernel ${m.name}] the manifest entry has no kernelSymbol: CudaRuntime needs generated/cuda's manifest, not another target's`);
    const source = this.module.sources[m.name];
    if (source === undefined) throw new Error(`[kernel ${m.name}] the module has no CUDA source for it`);
    const types = launchParamTypes(m);
    const { file } = await compileCubin(m.name, source, this.device.arch);
    this.live(`kernel ${m.name}`);
    const mod = this.call(`[kernel ${m.name}] loading ${file}`, () => this.native.moduleLoad(fs.readFileSync(file)));
    this.modules.push(mod);
    const k = { fn: this.call(`[kernel ${m.name}]`, () => this.native.moduleFunction(mod, symbol)), types };
    const smem = m.dynamicSharedBytes ?? 0;
    // Once per function: this runtime's context is one device's, and the attribute is the function's there.
    if (smem) this.call(`[kernel ${m.name}] ${smem} bytes of dynamic shared memory on ${this.device.name}`, () => this.native.setMaxDynamicShared(k.fn, smem));
    this.kernels.set(m.name, k);
    return k;
  }

  /** "[kernel a, b] ": the launches a failure found now may belong to. */
  private blame(): string {
    const names = [...this.pending];
    this.pending = new Set();
    return names.length ? `[kernel ${names.join(', ')}] ` : '';
  }

  /** Waits for everything queued so far; a failure names the kernels launched since the last finish(). */
  async finish(): Promise<void> {
    this.live('finish');
    try {
      await this.native.synchronize(this.context, this.stream);
    } catch (e) {
      throw new Error(`${this.blame()}${(e as Error).message}`);
    }
    this.pending = new Set();
  }

  /** Host-to-host convenience: uploads, launches, waits (for earlier work too) and returns every written tensor. */
  async run(name: string, args: LaunchArgs): Promise<Record<string, HostArray>> {
    const m = this.kernel(name);
    checkLaunch(m, args, undefined, { maxGrid: CUDA_MAX_GRID });
    const resident: Record<string, DeviceTensor<CudaBuffer>> = {};
    try {
      for (const b of m.bindings) resident[b.name] = this.upload(b.dtype, args.tensors[b.name]);
      await this.launch(name, resident, args.scalars);
      await this.finish();
      const out: Record<string, HostArray> = {};
      for (const b of m.bindings) if (b.access !== 'read') out[b.name] = await this.download(resident[b.name]);
      return out;
    } finally {
      for (const t of Object.values(resident)) t.buffer.destroy();
    }
  }

  /** Unloads the modules and releases the stream and context; buffers not destroyed before go with the context. */
  close(): void {
    if (this.closed) return;
    this.timer.close();
    for (const mod of this.modules) this.call('closing the CudaRuntime', () => this.native.moduleUnload(mod));
    this.call('closing the CudaRuntime', () => this.native.close(this.device.ordinal, this.stream));
    this.closed = true;
  }
}
