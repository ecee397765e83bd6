import type { ManifestKernel } from '../../compiler/codegen/manifest.js';
import { BYTES, type DType } from '../../compiler/ir/types.js';
import { HOST_ARRAY, KernelArgError, checkLaunch, type HostArray, type LaunchArgs } from '../common/args.js';
import type { GpuContext } from './device.js';
import { nextPow2 } from '../../compiler/autotune/bucket.js';

/** The generated WGSL of a set of kernels: what generated/wgsl/kernels.js exports. */
export interface WgslModule {
  readonly manifest: { readonly kernels: Readonly<Record<string, ManifestKernel>> };
  readonly sources: Readonly<Record<string, string>>;
}

/**
 * A tensor in device memory: `length` elements of `dtype` starting `offset` bytes into
 * `buffer` (default 0), for launches that keep data resident. The buffer may be larger
 * than the tensor: a tensor with an offset is a view (e.g. one sequence's slice of a KV
 * cache) and binds only its own bytes; the offset must be a multiple of the device's
 * minStorageBufferOffsetAlignment (256 bytes by default).
 */
export interface DeviceTensor {
  readonly buffer: GPUBuffer;
  readonly dtype: DType;
  readonly length: number;
  readonly offset?: number;
}

export interface LaunchOptions {
  readonly encoder?: GPUCommandEncoder;
  readonly timestampWrites?: GPUComputePassTimestampWrites;
}

export const tensorBytes = (dtype: DType, n: number) => Math.max(4, Math.ceil((n * BYTES[dtype]) / 4) * 4);

/** What a tensor binds: the whole buffer, or a view's own bytes (checked to lie inside it). */
function bindingOf(kernel: string, arg: string, t: DeviceTensor): GPUBufferBinding {
  if (t.offset === undefined) return { buffer: t.buffer };
  const size = tensorBytes(t.dtype, t.length);
  if (t.offset % 256 !== 0 || t.offset + size > t.buffer.size) {
    throw new KernelArgError(kernel, arg, `view of ${size} bytes at offset ${t.offset} does not fit a ${t.buffer.size}-byte buffer at a 256-byte-aligned offset`);
  }
  return { buffer: t.buffer, offset: t.offset, size };
}

/**
 * Runs generated WGSL kernels on a WebGPU device: compiles each pipeline once, checks
 * every launch against the manifest (dtype, shape, scalars), packs the scalars into the
 * uniform block, and dispatches the grid the manifest's formulas give.
 */
export class WebGpuRuntime {
  private readonly pipelines = new Map<string, Promise<GPUComputePipeline>>();
  /** Uniform blocks of recorded launches: each launch needs its own until the GPU has run it. */
  private transient: GPUBuffer[] = [];
  private launchErrors: Promise<string | null>[] = [];

  constructor(readonly gpu: GpuContext, readonly module: WgslModule) {}

  kernel(name: string): ManifestKernel {
    const m = this.module.manifest.kernels[name];
    if (!m) throw new Error(`unknown kernel '${name}' (have: ${Object.keys(this.module.manifest.kernels).join(', ')})`);
    return m;
  }

  /** The tuned variant of `name` for these shape symbols, if one was tuned for their bucket. */
  resolve(name: string, scalars: Readonly<Record<string, number>>): ManifestKernel {
    const m = this.kernel(name);
    for (const v of m.variants ?? []) {
      if (v.buckets.some((b) => Object.entries(b).every(([d, p]) => nextPow2(scalars[d]) === p))) return this.kernel(v.kernel);
    }
    return m;
  }

  /** One pipeline per kernel; concurrent first launches share its creation. */
  private pipeline(m: ManifestKernel): Promise<GPUComputePipeline> {
    let p = this.pipelines.get(m.name);
    if (!p) {
      p = this.createPipeline(m);
      this.pipelines.set(m.name, p);
      p.catch(() => this.pipelines.delete(m.name));
    }
    return p;
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
      throw new Error(`[kernel ${m.name}] pipeline creation failed: ${(e as Error).message}`);
    }
  }

  /** Uploads a host array (narrow types are already bit patterns, packed little-endian). */
  upload(dtype: DType, data: HostArray): DeviceTensor {
    const size = tensorBytes(dtype, data.length);
    const buffer = this.gpu.device.createBuffer({ size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST, mappedAtCreation: true });
    new Uint8Array(buffer.getMappedRange()).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    buffer.unmap();
    return { buffer, dtype, length: data.length };
  }

  allocate(dtype: DType, length: number): DeviceTensor {
    const buffer = this.gpu.device.createBuffer({ size: tensorBytes(dtype, length), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
    return { buffer, dtype, length };
  }

  async download(t: DeviceTensor): Promise<HostArray> {
    const device = this.gpu.device;
    const size = tensorBytes(t.dtype, t.length);
    const staging = device.createBuffer({ size, usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.MAP_READ });
    const enc = device.createCommandEncoder();
    enc.copyBufferToBuffer(t.buffer, t.offset ?? 0, staging, 0, size);
    device.queue.submit([enc.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    const out = HOST_ARRAY[t.dtype as Exclude<DType, 'bool'>].create(t.length);
    new Uint8Array(out.buffer).set(new Uint8Array(staging.getMappedRange(), 0, out.byteLength));
    staging.unmap();
    staging.destroy();
    return out;
  }

  /**
   * Records one launch of `name` on resident tensors into `opts.encoder` (or submits it
   * alone); `timestampWrites` brackets the dispatch with GPU timestamps (the autotuner).
   */
  async launch(name: string, tensors: Readonly<Record<string, DeviceTensor>>, scalars: Readonly<Record<string, number>>, opts: LaunchOptions = {}): Promise<void> {
    const { encoder, timestampWrites } = opts;
    const m = this.resolve(name, scalars);
    const { grid } = checkLaunch(m, { tensors: {}, scalars }, (n) => {
      const t = tensors[n];
      if (!t) throw new KernelArgError(m.name, n, 'missing tensor');
      const want = m.bindings.find((b) => b.name === n)!.dtype;
      if (t.dtype !== want) throw new KernelArgError(m.name, n, `expected dtype ${want}, got ${t.dtype}`);
      return t.length;
    });
    const limit = this.gpu.limits.maxComputeWorkgroupsPerDimension ?? 65535;
    grid.forEach((g, i) => {
      if (g > limit) throw new Error(`[kernel ${m.name}] grid ${'xyz'[i]} = ${g} workgroups exceeds this device's limit of ${limit}`);
    });
    if (grid.some((g) => g === 0)) return;
    const device = this.gpu.device;
    const pipeline = await this.pipeline(m);
    const entries: GPUBindGroupEntry[] = m.bindings.map((b) => ({ binding: b.binding, resource: bindingOf(m.name, b.name, tensors[b.name]) }));
    let uniform: GPUBuffer | undefined;
    if (m.uniform) {
      const data = new ArrayBuffer(m.uniform.size);
      const view = new DataView(data);
      for (const f of m.uniform.fields) {
        const v = scalars[f.name];
        if (f.dtype === 'f32') view.setFloat32(f.offset, v, true);
        else if (f.dtype === 'u32') view.setUint32(f.offset, v, true);
        else view.setInt32(f.offset, v, true);
      }
      uniform = device.createBuffer({ size: m.uniform.size, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
      this.transient.push(uniform);
      device.queue.writeBuffer(uniform, 0, data);
      entries.push({ binding: m.uniform.binding, resource: { buffer: uniform } });
    }
    // Checked without a round trip per launch: finish() reports what the scope caught
    // (bind group, encoding and, when we submit, the submission).
    device.pushErrorScope('validation');
    const bind = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
    const enc = encoder ?? device.createCommandEncoder();
    const pass = enc.beginComputePass(timestampWrites ? { timestampWrites } : undefined);
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bind);
    pass.dispatchWorkgroups(grid[0], grid[1], grid[2]);
    pass.end();
    if (!encoder) device.queue.submit([enc.finish()]);
    this.launchErrors.push(device.popErrorScope().then((e) => e && `[kernel ${m.name}] the device rejected the launch: ${e.message}`));
  }

  /** Waits for all submitted work, frees the per-launch uniform blocks, and throws if a launch since the last finish() was rejected. */
  async finish(): Promise<void> {
    const done = this.transient;
    const checks = this.launchErrors;
    this.transient = [];
    this.launchErrors = [];
    await this.gpu.device.queue.onSubmittedWorkDone();
    for (const b of done) b.destroy();
    const failed = (await Promise.all(checks)).filter((e) => e !== null);
    if (failed.length) throw new Error(failed.join('\n'));
  }

  /** Host-to-host convenience: uploads, launches, waits and returns every written tensor. */
  async run(name: string, args: LaunchArgs): Promise<Record<string, HostArray>> {
    const m = this.kernel(name);
    checkLaunch(m, args);
    const resident: Record<string, DeviceTensor> = {};
    for (const b of m.bindings) resident[b.name] = this.upload(b.dtype, args.tensors[b.name]);
    await this.launch(name, resident, args.scalars);
    await this.finish();
    const out: Record<string, HostArray> = {};
    for (const b of m.bindings) if (b.access !== 'read') out[b.name] = await this.download(resident[b.name]);
    for (const t of Object.values(resident)) t.buffer.destroy();
    return out;
  }
}
