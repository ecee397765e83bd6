/// <reference types="@webgpu/types" preserve="true" />
import type { ManifestKernel } from '../../compiler/codegen/manifest.js';
import { BYTES, type DType } from '../../compiler/ir/types.js';
import { HOST_ARRAY, KernelArgError, checkArgShape, checkLaunch, type HostArray, type LaunchArgs } from '../../compiler/launch/args.js';
import { checkCopy, checkResidentLaunch, checkWrite, kernelEntry, sharedBuild, tensorBytes, type DeviceTensor as AnyDeviceTensor, type KernelRuntime } from '../common/kernel-runtime.js';
import { tunedVariant } from '../../compiler/launch/variants.js';
import type { GpuContext } from './device.js';
import { DeviceWatch, withErrorScopes } from './deviceErrors.js';
import { webgpuFingerprint } from './fingerprint.js';
import type { EntryOf, KernelName, OutputsOf, RunArgsOf, ScalarsOf, TensorsOf, WgslModule } from './kernel-args.js';
import { WebGpuTimer } from './timer.js';

/** The generated WGSL of a set of kernels: what generated/wgsl/kernels.js exports. */
export type { WgslModule } from './kernel-args.js';

/**
 * A tensor in device memory: `length` elements of `dtype` starting `offset` bytes into
 * `buffer` (default 0), for launches that keep data resident. The buffer may be larger
 * than the tensor: a tensor with an offset is a view (e.g. one sequence's slice of a KV
 * cache) and binds only its own bytes; the offset must be a multiple of the device's
 * minStorageBufferOffsetAlignment (256 bytes by default).
 */
export type DeviceTensor = AnyDeviceTensor<GPUBuffer>;

export interface LaunchOptions {
  /**
   * Record into this encoder instead of submitting alone. Errors of the launch's own
   * commands (bind group, pass) are still its own and surface at finish(); an error of
   * the caller's encoder.finish() or submit is outside every launch and the caller's.
   */
  readonly encoder?: GPUCommandEncoder;
  readonly timestampWrites?: GPUComputePassTimestampWrites;
}

// WebGPU's defaults, for a GpuContext whose limits record lacks one.
const DEFAULT_LIMITS = { maxBufferSize: 268435456, maxStorageBufferBindingSize: 134217728, maxComputeWorkgroupsPerDimension: 65535 };

export { tensorBytes };

/** A recorded launch (or write, or step submission) until it is waited for: what its error scopes caught, and its uniform block. */
interface Pending {
  /** The launch's kernel; absent for a write or a step submission. */
  readonly kernel?: string;
  readonly check: Promise<string | null>;
  readonly uniform?: GPUBuffer;
  /** A step submission: invalid whenever one of its launches was, so reported only when none was. */
  readonly consequence?: boolean;
}

/** Where a launch goes: the caller's encoder, the runtime's open step, or a submission of its own (run()). */
type Target = GPUCommandEncoder | 'step' | 'alone';

/**
 * Runs generated WGSL kernels on a WebGPU device: compiles each pipeline once, checks
 * every launch against the manifest (dtype, shape, scalars) and the device's limits, packs
 * the scalars into the uniform block, and dispatches the grid the manifest's formulas give.
 * Each launch keeps its own error scopes, so concurrent callers each get their own outcome.
 */
export class WebGpuRuntime<M extends WgslModule = WgslModule> implements KernelRuntime<GPUBuffer> {
  readonly backend = 'webgpu' as const;
  /** bindingOf's rule; minStorageBufferOffsetAlignment is 256 on every adapter we target. */
  readonly viewAlignment = 256;
  /** Timestamp queries, where the adapter has them. */
  readonly timer?: WebGpuTimer;
  private readonly pipelines = new Map<string, Promise<GPUComputePipeline>>();
  /** Launches, writes and step submissions since the last finish(); run() keeps its own apart. */
  private pending: Pending[] = [];
  private readonly watch: DeviceWatch;
  /** Launches and copies of the current step, submitted by finish(), download() or write(). */
  private step?: GPUCommandEncoder;
  private readonly stepKernels = new Set<string>();

  constructor(readonly gpu: GpuContext, readonly module: M) {
    this.watch = new DeviceWatch(gpu.device);
    if (gpu.features.includes('timestamp-query')) this.timer = new WebGpuTimer(gpu.device);
  }

  get maxBindingBytes(): number {
    return this.limit('maxStorageBufferBindingSize');
  }

  /** The device is the process's (getGpu()); it outlives any one runtime. */
  close(): void {}

  kernel(name: string): ManifestKernel {
    return kernelEntry(this.module.manifest.kernels, name);
  }

  /**
   * The tuned variant of `name` for these shape symbols, if one was tuned for their bucket
   * on this device: a winner measured elsewhere (another adapter, other limits) may be slower
   * here or not even fit, so it is never applied.
   */
  resolve(name: string, scalars: Readonly<Record<string, number>>): ManifestKernel {
    const m = this.kernel(name);
    if (!m.variants?.length) return m;
    const variant = tunedVariant(m, webgpuFingerprint(this.gpu).fingerprint, scalars);
    return variant ? this.kernel(variant) : m;
  }

  /** One pipeline per kernel; concurrent first launches share its creation. */
  private pipeline(m: ManifestKernel): Promise<GPUComputePipeline> {
    return sharedBuild(this.pipelines, m.name, () => this.createPipeline(m));
  }

  private async createPipeline(m: ManifestKernel): Promise<GPUComputePipeline> {
    const device = this.gpu.device;
    // The scope is popped before the first await, so concurrent creations cannot take
    // each other's errors and a thrown error cannot leave it on the stack.
    device.pushErrorScope('validation');
    const shader = device.createShaderModule({ code: this.module.sources[m.name], label: m.name });
    // The layout comes from the manifest, not 'auto': a binding the shader no longer reads
    // (e.g. a uniform block whose every value was folded away) must still be accepted.
    const entries: GPUBindGroupLayoutEntry[] = m.bindings.map((b) => ({
      binding: b.binding, visibility: GPUShaderStage.COMPUTE, buffer: { type: b.access === 'read' ? 'read-only-storage' : 'storage' },
    }));
    if (m.uniform) entries.push({ binding: m.uniform.binding, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform' } });
    const layout = device.createPipelineLayout({ bindGroupLayouts: [device.createBindGroupLayout({ entries, label: m.name })], label: m.name });
    const scope = device.popErrorScope();
    const info = await shader.getCompilationInfo();
    const errors = info.messages.filter((x) => x.type === 'error');
    if (errors.length) throw new Error(`[kernel ${m.name}] WGSL compilation failed:\n${errors.map((e) => `  ${e.lineNum}:${e.linePos} ${e.message}`).join('\n')}`);
    const err = await scope;
    if (err) throw new Error(`[kernel ${m.name}] pipeline layout or shader failed validation: ${err.message}`);
    try {
      return await device.createComputePipelineAsync({ layout, compute: { module: shader, entryPoint: m.entryPoint ?? 'main' }, label: m.name });
    } catch (e) {
      this.watch.check(`kernel ${m.name}`);
      throw new Error(`[kernel ${m.name}] pipeline creation failed: ${(e as Error).message}`);
    }
  }

  private limit(name: keyof typeof DEFAULT_LIMITS): number {
    return this.gpu.limits[name] ?? DEFAULT_LIMITS[name];
  }

  /** Refuses a buffer of `bytes` over the device's maxBufferSize before Dawn sees it; `what` names it. */
  private checkBufferSize(what: string, bytes: number): void {
    const limit = this.limit('maxBufferSize');
    if (bytes > limit) throw new RangeError(`${what}: ${bytes} bytes is over this device's maxBufferSize of ${limit} bytes`);
  }

  createBuffer(bytes: number, label?: string): GPUBuffer {
    const what = `buffer${label ? ` '${label}'` : ''} of ${bytes} bytes`;
    this.watch.check(what);
    if (!Number.isInteger(bytes) || bytes <= 0 || bytes % 4) throw new RangeError(`${what}: the size must be a positive multiple of 4`);
    this.checkBufferSize(what, bytes);
    return this.gpu.device.createBuffer({ size: bytes, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST, label });
  }

  /** queue.writeBuffer runs before any command not yet submitted, so the open step is submitted first. */
  write(buffer: GPUBuffer, byteOffset: number, data: ArrayBufferView): void {
    checkWrite(buffer, byteOffset, data.byteLength);
    const what = `write of ${data.byteLength} bytes at offset ${byteOffset}${buffer.label ? ` into '${buffer.label}'` : ''}`;
    this.watch.check(what);
    this.flushStep();
    const [, rejected] = withErrorScopes(this.gpu.device, () => this.gpu.device.queue.writeBuffer(buffer, byteOffset, data.buffer, data.byteOffset, data.byteLength));
    this.pending.push({ check: rejected.then((e) => e && `[${what}] the device rejected it: ${e.message}`) });
  }

  copy(src: GPUBuffer, srcByteOffset: number, dst: GPUBuffer, dstByteOffset: number, bytes: number): void {
    checkCopy(src, srcByteOffset, dst, dstByteOffset, bytes);
    if (bytes) this.openStep().copyBufferToBuffer(src, srcByteOffset, dst, dstByteOffset, bytes);
  }

  private openStep(): GPUCommandEncoder {
    this.step ??= this.gpu.device.createCommandEncoder();
    return this.step;
  }

  /** Submits the open step; its verdict joins the pending launches'. */
  private flushStep(): void {
    const enc = this.step;
    if (!enc) return;
    this.step = undefined;
    const where = this.stepKernels.size ? `kernel ${[...this.stepKernels].join(', ')}` : 'buffer copies';
    this.stepKernels.clear();
    const device = this.gpu.device;
    const [, rejected] = withErrorScopes(device, () => device.queue.submit([enc.finish()]));
    this.pending.push({ consequence: true, check: rejected.then((e) => e && `[${where}] the device rejected the step's commands: ${e.message}`) });
  }

  /** Uploads a host array (narrow types are already bit patterns, packed little-endian). */
  upload(dtype: DType, data: HostArray): DeviceTensor {
    const what = `upload of ${dtype}[${data.length}]`;
    this.watch.check(what);
    const size = tensorBytes(dtype, data.length);
    this.checkBufferSize(what, size);
    const buffer = this.gpu.device.createBuffer({ size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST, mappedAtCreation: true });
    new Uint8Array(buffer.getMappedRange()).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    buffer.unmap();
    return { buffer, dtype, length: data.length };
  }

  allocate(dtype: DType, length: number): DeviceTensor {
    const what = `allocation of ${dtype}[${length}]`;
    this.watch.check(what);
    const size = tensorBytes(dtype, length);
    this.checkBufferSize(what, size);
    const buffer = this.gpu.device.createBuffer({ size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
    return { buffer, dtype, length };
  }

  async download(t: DeviceTensor): Promise<HostArray> {
    const what = `download of ${t.dtype}[${t.length}]`;
    this.watch.check(what);
    this.flushStep();
    const device = this.gpu.device;
    const size = tensorBytes(t.dtype, t.length);
    const staging = device.createBuffer({ size, usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.MAP_READ });
    try {
      const enc = device.createCommandEncoder();
      enc.copyBufferToBuffer(t.buffer, t.offset ?? 0, staging, 0, size);
      device.queue.submit([enc.finish()]);
      try {
        await staging.mapAsync(GPUMapMode.READ);
      } catch (e) {
        // Dawn rejects with an empty AbortError when the device went away meanwhile.
        this.watch.check(what);
        throw new Error(`[${what}] mapping the read-back buffer failed: ${(e as Error).name} ${(e as Error).message}`);
      }
      const out = HOST_ARRAY[t.dtype as Exclude<DType, 'bool'>].create(t.length);
      new Uint8Array(out.buffer).set(new Uint8Array(staging.getMappedRange(), 0, out.byteLength));
      staging.unmap();
      return out;
    } finally {
      staging.destroy();
    }
  }

  /** What `t` binds as argument `arg`: the whole buffer, or a view's own bytes; checked against the buffer and the device's binding limit. */
  private bindingOf(kernel: string, arg: string, t: DeviceTensor): GPUBufferBinding {
    const view = t.offset !== undefined;
    const size = view ? tensorBytes(t.dtype, t.length) : Math.ceil(t.length * BYTES[t.dtype]);
    const offset = t.offset ?? 0;
    if (offset % 256 !== 0 || offset + size > t.buffer.size) {
      throw new KernelArgError(kernel, arg, view
        ? `view of ${size} bytes at offset ${offset} does not fit a ${t.buffer.size}-byte buffer at a 256-byte-aligned offset`
        : `${t.dtype}[${t.length}] needs ${size} bytes, the buffer holds ${t.buffer.size}`);
    }
    const bound = view ? size : t.buffer.size;
    const limit = this.limit('maxStorageBufferBindingSize');
    if (bound > limit) throw new KernelArgError(kernel, arg, `binds ${bound} bytes, over this device's maxStorageBufferBindingSize of ${limit} bytes`);
    return view ? { buffer: t.buffer, offset, size } : { buffer: t.buffer };
  }

  /**
   * Records one launch of `name` on resident tensors into `opts.encoder`, or else into the
   * runtime's open step (submitted by finish(), download() or write(), in call order);
   * `timestampWrites` brackets the dispatch with GPU timestamps (the autotuner). The
   * device's verdict on it comes at the next finish().
   */
  launch<K extends KernelName<M>>(name: K, tensors: TensorsOf<EntryOf<M, K>, DeviceTensor>, scalars: ScalarsOf<EntryOf<M, K>>, opts?: LaunchOptions): Promise<void>;
  async launch(name: string, tensors: Readonly<Record<string, DeviceTensor>>, scalars: Readonly<Record<string, number>>, opts: LaunchOptions = {}): Promise<void> {
    const p = await this.record(name, tensors, scalars, opts.encoder ?? 'step', opts.timestampWrites);
    if (p) this.pending.push(p);
  }

  /** Checks and records one launch; undefined when its grid is empty. */
  private async record(name: string, tensors: Readonly<Record<string, DeviceTensor>>, scalars: Readonly<Record<string, number>>, target: Target, timestampWrites?: GPUComputePassTimestampWrites): Promise<Pending | undefined> {
    // resolve() reads the scalars, so their shape is checked first.
    checkArgShape(name, { tensors, scalars });
    const m = this.resolve(name, scalars);
    const limit = this.limit('maxComputeWorkgroupsPerDimension');
    const grid = checkResidentLaunch(m, tensors, scalars, { maxGrid: [limit, limit, limit] });
    if (grid.some((g) => g === 0)) return undefined;
    const entries: GPUBindGroupEntry[] = m.bindings.map((b) => ({ binding: b.binding, resource: this.bindingOf(m.name, b.name, tensors[b.name]) }));
    const who = `kernel ${m.name}`;
    this.watch.check(who);
    const pipeline = await this.pipeline(m);
    this.watch.check(who);
    const device = this.gpu.device;
    let data: ArrayBuffer | undefined;
    if (m.uniform) {
      data = new ArrayBuffer(m.uniform.size);
      const view = new DataView(data);
      for (const f of m.uniform.fields) {
        const v = scalars[f.name];
        if (f.dtype === 'f32') view.setFloat32(f.offset, v, true);
        else if (f.dtype === 'u32') view.setUint32(f.offset, v, true);
        else view.setInt32(f.offset, v, true);
      }
    }
    // No await inside the scopes: they hold this launch's errors only (bind group, pass
    // and, when we submit, the submission).
    let uniform: GPUBuffer | undefined;
    const [, rejected] = withErrorScopes(device, () => {
      if (m.uniform && data) {
        uniform = device.createBuffer({ size: m.uniform.size, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
        device.queue.writeBuffer(uniform, 0, data);
        entries.push({ binding: m.uniform.binding, resource: { buffer: uniform } });
      }
      try {
        const bind = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
        const enc = target === 'alone' ? device.createCommandEncoder() : target === 'step' ? this.openStep() : target;
        const times = timestampWrites ?? (target === 'step' ? this.timer?.next() : undefined);
        const pass = enc.beginComputePass(times ? { timestampWrites: times } : undefined);
        pass.setPipeline(pipeline);
        pass.setBindGroup(0, bind);
        pass.dispatchWorkgroups(grid[0], grid[1], grid[2]);
        pass.end();
        if (target === 'alone') device.queue.submit([enc.finish()]);
        if (target === 'step') this.stepKernels.add(m.name);
      } catch (e) {
        uniform?.destroy();
        throw e;
      }
    });
    const check = rejected.then((e) => e && `[kernel ${m.name}] the device rejected the launch: ${e.message}`);
    return { kernel: m.name, check, uniform };
  }

  /** Waits for the GPU, frees the launches' uniform blocks and throws what the device rejected of them. */
  private async settle(launches: readonly Pending[]): Promise<void> {
    await this.gpu.device.queue.onSubmittedWorkDone();
    for (const p of launches) p.uniform?.destroy();
    const checks = await Promise.all(launches.map((p) => p.check));
    const failed = checks.filter((e, i) => e !== null && !launches[i].consequence);
    const consequences = checks.filter((e, i) => e !== null && launches[i].consequence);
    const kernels = [...new Set(launches.flatMap((p) => (p.kernel ? [p.kernel] : [])))];
    this.watch.check(kernels.length ? `kernel ${kernels.join(', ')}` : 'finish');
    if (failed.length || consequences.length) throw new Error((failed.length ? failed : consequences).join('\n'));
  }

  /** Submits the open step, waits for all submitted work and throws if a launch(), copy() or write() since the last finish() was rejected (each message names its kernel). */
  async finish(): Promise<void> {
    const timed = this.timer?.resolve(() => this.openStep());
    this.flushStep();
    const launches = this.pending;
    this.pending = [];
    await this.settle(launches);
    await timed?.();
  }

  /**
   * Host-to-host convenience: uploads, launches, waits and returns every written tensor.
   * Its outcome is its own launch's: concurrent run() calls and launch()/finish() users
   * never see each other's errors.
   */
  run<K extends KernelName<M>>(name: K, args: RunArgsOf<EntryOf<M, K>>): Promise<OutputsOf<EntryOf<M, K>>>;
  async run(name: string, args: LaunchArgs): Promise<Record<string, HostArray>> {
    const m = this.kernel(name);
    checkLaunch(m, args);
    this.watch.check(`kernel ${m.name}`);
    // Every tensor is bound whole, so the binding limit is the one that counts; refused
    // before any buffer exists, so a failed run() leaves nothing behind.
    const limitName = this.limit('maxStorageBufferBindingSize') <= this.limit('maxBufferSize') ? 'maxStorageBufferBindingSize' : 'maxBufferSize';
    const limit = this.limit(limitName);
    for (const b of m.bindings) {
      const n = args.tensors[b.name].length;
      const bytes = tensorBytes(b.dtype, n);
      if (bytes > limit) throw new KernelArgError(m.name, b.name, `${b.dtype}[${n}] needs ${bytes} bytes, over this device's ${limitName} of ${limit} bytes`);
    }
    const resident: Record<string, DeviceTensor> = {};
    try {
      const [, uploadRejected] = withErrorScopes(this.gpu.device, () => {
        for (const b of m.bindings) resident[b.name] = this.upload(b.dtype, args.tensors[b.name]);
      });
      const own = await this.record(name, resident, args.scalars, 'alone');
      const upload = await uploadRejected;
      if (upload) {
        own?.uniform?.destroy();
        throw new Error(`[kernel ${m.name}] the device rejected the upload of its tensors: ${upload.message}`);
      }
      await this.settle(own ? [own] : []);
      const out: Record<string, HostArray> = {};
      for (const b of m.bindings) if (b.access !== 'read') out[b.name] = await this.download(resident[b.name]);
      return out;
    } finally {
      for (const t of Object.values(resident)) t.buffer.destroy();
    }
  }
}
