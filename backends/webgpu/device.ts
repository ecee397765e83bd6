// One shared WebGPU device per process: navigator.gpu in a browser; in Node a real GPU
// through Dawn when there is one, otherwise SwiftShader (a CPU Vulkan driver) so that
// everything also runs on GPU-less CI. Bundles for browsers get device-browser.ts instead
// (the package's `browser` condition), which never references Dawn.
import { cachedGpu } from './device-core.js';

export { describeGpu, type GpuContext } from './device-core.js';

export const getGpu = cachedGpu(async (forceSwiftShader) => {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  const isNode = typeof process !== 'undefined' && !!process.versions?.node;
  if (!isNode && nav?.gpu) {
    const adapter = await nav.gpu.requestAdapter({ powerPreference: 'high-performance' });
    if (!adapter) throw new Error('getGpu: navigator.gpu.requestAdapter() returned null (WebGPU disabled or unsupported)');
    return adapter;
  }
  if (!isNode) throw new Error('getGpu: WebGPU is not available here (no navigator.gpu and not Node.js)');
  const { nodeAdapter } = await import('./node-adapter.js');
  return nodeAdapter(forceSwiftShader || process.env.MIMO_SWIFTSHADER === '1');
});
