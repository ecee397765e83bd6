// Smoke test for the WebGPU device: prints what we got and checks that compute,
// subgroups and timestamp queries actually work (adapters can advertise more than they do).
// Usage: npx tsx scripts/gpu-info.ts [--swiftshader]
import { describeGpu, getGpu, type GpuContext } from '../backends/webgpu/device.ts';

const KEY_LIMITS = [
  'maxStorageBufferBindingSize', 'maxBufferSize', 'maxStorageBuffersPerShaderStage',
  'maxUniformBufferBindingSize', 'maxComputeWorkgroupStorageSize', 'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX', 'maxComputeWorkgroupSizeY', 'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension', 'maxBindGroups', 'minStorageBufferOffsetAlignment',
];

function storage(device: GPUDevice, data: Float32Array<ArrayBuffer> | Uint32Array<ArrayBuffer> | number): GPUBuffer {
  const size = typeof data === 'number' ? data : data.byteLength;
  const buf = device.createBuffer({
    size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
  });
  if (typeof data !== 'number') device.queue.writeBuffer(buf, 0, data);
  return buf;
}

async function readBack(device: GPUDevice, src: GPUBuffer, size = src.size): Promise<ArrayBuffer> {
  const staging = device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(src, 0, staging, 0, size);
  device.queue.submit([enc.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const out = staging.getMappedRange().slice(0);
  staging.destroy();
  return out;
}

async function compile(device: GPUDevice, code: string): Promise<GPUComputePipeline> {
  const module = device.createShaderModule({ code });
  const info = await module.getCompilationInfo();
  for (const m of info.messages) console.log(`  wgsl ${m.type} ${m.lineNum}:${m.linePos} ${m.message}`);
  return device.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: 'main' } });
}

function bind(device: GPUDevice, pipeline: GPUComputePipeline, bufs: GPUBuffer[]): GPUBindGroup {
  return device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: bufs.map((buffer, binding) => ({ binding, resource: { buffer } })),
  });
}

async function checkAdd(ctx: GpuContext): Promise<void> {
  const { device } = ctx;
  const n = 1000;
  const a = Float32Array.from({ length: n }, (_, i) => i * 0.5);
  const b = Float32Array.from({ length: n }, (_, i) => 1 - i);
  const pipe = await compile(device, `
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) {
  if (g.x < arrayLength(&c)) { c[g.x] = a[g.x] + b[g.x]; }
}`);
  const bufs = [storage(device, a), storage(device, b), storage(device, n * 4)];
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  pass.setPipeline(pipe);
  pass.setBindGroup(0, bind(device, pipe, bufs));
  pass.dispatchWorkgroups(Math.ceil(n / 64));
  pass.end();
  device.queue.submit([enc.finish()]);
  const c = new Float32Array(await readBack(device, bufs[2]));
  let bad = 0;
  for (let i = 0; i < n; i++) if (c[i] !== a[i] + b[i]) bad++;
  console.log(`add f32[${n}]: ${bad === 0 ? 'OK' : `FAIL (${bad} mismatches)`}`);
  bufs.forEach((x) => x.destroy());
  if (bad) process.exitCode = 1;
}

async function checkSubgroups(ctx: GpuContext): Promise<void> {
  if (!ctx.features.includes('subgroups')) { console.log('subgroups: not supported'); return; }
  const { device } = ctx;
  const wg = 256, groups = 4, n = wg * groups;
  // Also verify a reduction, since a usable subgroup_size alone does not prove subgroupAdd works.
  const pipe = await compile(device, `
enable subgroups;
@group(0) @binding(0) var<storage, read_write> sizes: array<u32>;
@group(0) @binding(1) var<storage, read_write> sums: array<u32>;
@compute @workgroup_size(${wg}) fn main(@builtin(global_invocation_id) g: vec3u,
    @builtin(subgroup_size) sg: u32) {
  sizes[g.x] = sg;
  sums[g.x] = subgroupAdd(1u);
}`);
  const bufs = [storage(device, n * 4), storage(device, n * 4)];
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  pass.setPipeline(pipe);
  pass.setBindGroup(0, bind(device, pipe, bufs));
  pass.dispatchWorkgroups(groups);
  pass.end();
  device.queue.submit([enc.finish()]);
  const sizes = new Uint32Array(await readBack(device, bufs[0]));
  const sums = new Uint32Array(await readBack(device, bufs[1]));
  const seen = [...new Set(sizes)].sort((x, y) => x - y);
  const sumOk = sums.every((s, i) => s === sizes[i]);
  const { subgroupMinSize: lo, subgroupMaxSize: hi } = ctx.adapter.info;
  console.log(`subgroups: subgroup_size observed ${seen.join(',')} (adapter reports ${lo}..${hi}); ` +
    `subgroupAdd(1) == subgroup_size: ${sumOk ? 'OK' : 'FAIL'}`);
  bufs.forEach((x) => x.destroy());
}

async function checkTimestamps(ctx: GpuContext): Promise<void> {
  if (!ctx.features.includes('timestamp-query')) { console.log('timestamp-query: not supported'); return; }
  const { device } = ctx;
  // A dispatch heavy enough that a working timer must report a non-trivial delta.
  const n = 1 << 20;
  const pipe = await compile(device, `
@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) {
  var v = x[g.x];
  for (var i = 0u; i < 64u; i++) { v = v * 1.0001 + 0.5; }
  x[g.x] = v;
}`);
  const data = storage(device, n * 4);
  const qs = device.createQuerySet({ type: 'timestamp', count: 2 });
  const resolve = device.createBuffer({ size: 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass({
    timestampWrites: { querySet: qs, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 },
  });
  pass.setPipeline(pipe);
  pass.setBindGroup(0, bind(device, pipe, [data]));
  pass.dispatchWorkgroups(n / 64);
  pass.end();
  enc.resolveQuerySet(qs, 0, 2, resolve, 0);
  const t0 = performance.now();
  device.queue.submit([enc.finish()]);
  await device.queue.onSubmittedWorkDone();
  const wallMs = performance.now() - t0;
  const [begin, end] = new BigUint64Array(await readBack(device, resolve));
  const delta = end - begin;
  const works = begin > 0n && end > begin;
  console.log(`timestamp-query: begin=${begin} end=${end} delta=${delta} ns (${Number(delta) / 1e6} ms; ` +
    `host wall ${wallMs.toFixed(2)} ms) -> ${works ? 'working' : 'NOT working (zeros or non-increasing)'}`);
  data.destroy(); resolve.destroy(); qs.destroy();
}

const ctx = await getGpu({ forceSwiftShader: process.argv.includes('--swiftshader') });
console.log(describeGpu(ctx));
console.log(`adapter info: vendor="${ctx.info.vendor}" architecture="${ctx.info.architecture}" ` +
  `device="${ctx.adapter.info.device}" description="${ctx.info.description}" isSwiftShader=${ctx.info.isSwiftShader}`);
console.log(`features: ${ctx.features.join(', ')}`);
const adapterLimits = ctx.adapter.limits as unknown as Record<string, number>;
for (const k of KEY_LIMITS) {
  const note = adapterLimits[k] !== ctx.limits[k] ? ` (adapter ${adapterLimits[k]})` : '';
  console.log(`  ${k.padEnd(36)} ${ctx.limits[k]}${note}`);
}
await checkAdd(ctx);
await checkSubgroups(ctx);
await checkTimestamps(ctx);
// Node exits cleanly without this too; destroy() just frees native memory deterministically.
ctx.device.destroy();
