/// <reference types="@webgpu/types" preserve="true" />
/**
 * `mimo-kc/webgpu`: run generated WGSL kernels (this package's, `mimo-kc/kernels/wgsl`,
 * or a user's `mimo-compile --out` module) on a WebGPU device. Loads neither TypeScript
 * nor the compiler; in Node the device comes from Dawn (`webgpu`), in browsers (the
 * package's `browser` condition, index.browser.ts) from navigator.gpu.
 */
export { WebGpuRuntime, tensorBytes, type DeviceTensor, type LaunchOptions, type WgslModule } from './runtime.js';
export { getGpu, describeGpu, type GpuContext } from './device.js';
export { KernelArgError, HOST_ARRAY, type HostArray, type LaunchArgs } from '../../compiler/launch/args.js';
export type { ManifestKernel, ManifestBinding } from '../../compiler/codegen/manifest.js';
