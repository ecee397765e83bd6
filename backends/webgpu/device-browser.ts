// getGpu for browsers: navigator.gpu only (see device.ts for Node).
import { cachedGpu } from './device-core.js';

export { describeGpu, type GpuContext } from './device-core.js';

export const getGpu = cachedGpu(async () => {
  const gpu = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
  if (!gpu) throw new Error('getGpu: this browser exposes no navigator.gpu (WebGPU disabled or unsupported)');
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error('getGpu: navigator.gpu.requestAdapter() returned null (WebGPU disabled or unsupported)');
  return adapter;
});
