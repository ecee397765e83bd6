/// <reference types="@webgpu/types" preserve="true" />
/** `mimo-kc/webgpu` for browsers (the package's `browser` condition): as index.ts, with a navigator.gpu-only getGpu. */
export { WebGpuRuntime, tensorBytes, type DeviceTensor, type LaunchOptions, type WgslModule } from './runtime.js';
export { getGpu, describeGpu, type GpuContext } from './device-browser.js';
export { KernelArgError, HOST_ARRAY, type HostArray, type LaunchArgs } from '../../compiler/launch/args.js';
export type { ManifestKernel, ManifestBinding } from '../../compiler/codegen/manifest.js';
