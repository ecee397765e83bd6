import type { Kernel } from '../ir/nodes.js';
import type { DType } from '../ir/types.js';
import { compileKernel } from '../compile.js';
import type { TunableChoice } from '../passes/specialise.js';
import { CompileError } from '../common/errors.js';
import type { GpuContext } from '../../backends/webgpu/device.js';
import { WebGpuRuntime, type DeviceTensor } from '../../backends/webgpu/runtime.js';
import type { HostArray } from '../launch/args.js';
import { buildInputs } from './presets.js';
import { compareOutputs } from './check.js';
import type { Measurement } from '../tuning/dbFile.js';
import { checkMeasureOptions, type MeasureOptions } from './measure.js';
import { elementCount, evalSize } from '../ir/size.js';
import type { SizeExpr } from '../ir/nodes.js';

/**
 * Times kernel variants on one WebGPU device for one shape: inputs random and resident,
 * GPU timestamps around each dispatch (wall clock where the adapter has none), and
 * every candidate's output checked against the default configuration's before its
 * time counts. Outputs start as NaN bytes for the check, so an element a candidate
 * forgets to write is caught even if an earlier candidate wrote it.
 */
export class WebGpuMeasurer {
  private inputs: Record<string, DeviceTensor> = {};
  private reference: Record<string, HostArray> | undefined;
  private readonly timestamps: boolean;

  constructor(private readonly gpu: GpuContext, private readonly k: Kernel, private readonly dims: Readonly<Record<string, number>>, private readonly opts: MeasureOptions) {
    checkMeasureOptions(k, opts);
    this.timestamps = gpu.features.includes('timestamp-query');
    const host = buildInputs(k, dims);
    const scratch = new WebGpuRuntime(gpu, { manifest: { kernels: {} }, sources: {} });
    for (const t of k.tensors) if (t.access === 'read') this.inputs[t.name] = scratch.upload(t.dtype, host[t.name]);
  }

  async measure(choice: TunableChoice): Promise<Measurement> {
    const at = new Date().toISOString();
    let rt: WebGpuRuntime;
    try {
      const c = compileKernel(this.k, 'wgsl', choice);
      rt = new WebGpuRuntime(this.gpu, { manifest: { kernels: { [this.k.name]: c.manifest } }, sources: { [this.k.name]: c.source } });
    } catch (e) {
      if (e instanceof CompileError) return { invalid: `compile: ${e.detail}`, at };
      throw e;
    }
    const outputs = this.k.tensors.filter((t) => t.access !== 'read');
    const tensors: Record<string, DeviceTensor> = { ...this.inputs };
    for (const t of outputs) tensors[t.name] = rt.upload(t.dtype, nanFilled(t.dtype, this.count(t.shape)));
    try {
      const t0 = performance.now();
      await rt.launch(this.k.name, tensors, this.dims);
      await rt.finish();
      const warm = performance.now() - t0;
      const got: Record<string, HostArray> = {};
      for (const t of outputs) got[t.name] = await rt.download(tensors[t.name]);
      if (!this.reference) this.reference = got;
      else {
        for (const t of outputs) {
          const why = compareOutputs(t.name, t.dtype, this.reference[t.name], got[t.name]);
          if (why) return { invalid: `wrong output: ${why}`, at };
        }
      }
      if (warm > this.opts.timeoutMs) return { invalid: `timeout: one launch took ${warm.toFixed(0)} ms > ${this.opts.timeoutMs} ms`, at };
      const times: number[] = [];
      for (let i = 0; i < this.opts.reps; i++) times.push(await this.timeOnce(rt, tensors));
      times.sort((a, b) => a - b);
      return { ms: times[times.length >> 1], samples: times.length, at };
    } catch (e) {
      return { invalid: `runtime: ${(e as Error).message.split('\n')[0]}`, at };
    } finally {
      for (const t of outputs) tensors[t.name].buffer.destroy();
    }
  }

  private count(shape: readonly SizeExpr[]): number {
    return evalSize(elementCount(shape), { ...this.k.consts, ...this.dims });
  }

  private async timeOnce(rt: WebGpuRuntime, tensors: Record<string, DeviceTensor>): Promise<number> {
    const device = this.gpu.device;
    if (!this.timestamps) {
      const t0 = performance.now();
      await rt.launch(this.k.name, tensors, this.dims);
      await rt.finish();
      return performance.now() - t0;
    }
    const querySet = device.createQuerySet({ type: 'timestamp', count: 2 });
    const resolve = device.createBuffer({ size: 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
    const read = device.createBuffer({ size: 16, usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.MAP_READ });
    const encoder = device.createCommandEncoder();
    await rt.launch(this.k.name, tensors, this.dims, { encoder, timestampWrites: { querySet, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } });
    encoder.resolveQuerySet(querySet, 0, 2, resolve, 0);
    encoder.copyBufferToBuffer(resolve, 0, read, 0, 16);
    device.queue.submit([encoder.finish()]);
    await rt.finish();
    await read.mapAsync(GPUMapMode.READ);
    const [begin, end] = new BigUint64Array(read.getMappedRange());
    const ms = Number(end - begin) / 1e6;
    read.unmap();
    for (const b of [read, resolve]) b.destroy();
    querySet.destroy();
    return ms;
  }

  dispose(): void {
    for (const t of Object.values(this.inputs)) t.buffer.destroy();
  }
}

function nanFilled(dtype: DType, n: number): HostArray {
  const bytes = new Uint8Array(Math.max(4, n * (dtype === 'bf16' || dtype === 'f16' ? 2 : dtype.startsWith('fp8') ? 1 : 4))).fill(0xff);
  if (dtype === 'f32') return new Float32Array(bytes.buffer, 0, n);
  if (dtype === 'i32') return new Int32Array(bytes.buffer, 0, n);
  if (dtype === 'u32') return new Uint32Array(bytes.buffer, 0, n);
  if (dtype === 'bf16' || dtype === 'f16') return new Uint16Array(bytes.buffer, 0, n);
  return new Uint8Array(bytes.buffer, 0, n);
}
