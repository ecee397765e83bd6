import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { PACKAGE_ROOT } from '../../compiler/common/package-root.js';

/** A CUDA handle (context, stream, module, function, event) or device pointer. */
export type Handle = bigint;

export interface CudaDeviceInfo {
  readonly name: string;
  /** Compute capability [major, minor]. */
  readonly cc: readonly [number, number];
  readonly sms: number;
  readonly memBytes: number;
}

/** What probe() finds: `reason` starts with "no CUDA device: " and says why (no driver, cuInit's error, no device). */
export type CudaProbe =
  | { readonly ok: false; readonly reason: string }
  | { readonly ok: true; readonly driverVersion: number; readonly devices: readonly CudaDeviceInfo[] };

/**
 * The addon's functions (backends/cuda/native/addon.cc), thin wrappers of Driver API calls;
 * each throws an Error naming the call and its CUresult. Launch parameter `types` has one
 * letter per __global__ parameter: p (pointer, a bigint), i (int), u (unsigned), f (float).
 */
export interface NativeCuda {
  probe(): CudaProbe;
  open(ordinal: number): { readonly context: Handle; readonly stream: Handle };
  close(ordinal: number, stream: Handle): void;
  moduleLoad(cubin: Uint8Array): Handle;
  moduleUnload(module: Handle): void;
  moduleFunction(module: Handle, name: string): Handle;
  /** cuFuncSetAttribute(MAX_DYNAMIC_SHARED_SIZE_BYTES): needed before a launch passes more than 48 KiB. */
  setMaxDynamicShared(fn: Handle, bytes: number): void;
  memAlloc(bytes: number): Handle;
  memFree(ptr: Handle): void;
  memset(ptr: Handle, byte: number, bytes: number, stream: Handle): void;
  /** Returns when the copy is done: the caller may reuse `data` at once. */
  upload(ptr: Handle, data: ArrayBufferView, stream: Handle): void;
  copy(dst: Handle, src: Handle, bytes: number, stream: Handle): void;
  /** The bytes, copied behind everything queued before; blocks until then. */
  download(ptr: Handle, bytes: number, stream: Handle): ArrayBuffer;
  /** Resolves once everything queued on the stream is done, waiting off the main thread. */
  synchronize(context: Handle, stream: Handle): Promise<void>;
  launch(fn: Handle, grid: readonly number[], block: readonly number[], sharedBytes: number, stream: Handle, types: string, values: readonly (number | bigint)[]): void;
  eventCreate(): Handle;
  eventRecord(event: Handle, stream: Handle): void;
  eventElapsed(start: Handle, end: Handle): number;
  eventDestroy(event: Handle): void;
}

export const ADDON_PATH = path.join(PACKAGE_ROOT, 'backends/cuda/native/build/Release/mimo_cuda.node');

let addon: NativeCuda | undefined;

/** The addon, loaded on first use; it loads without a driver (probe() then says why there is no device). */
export function nativeCuda(): NativeCuda {
  if (!addon) {
    if (!fs.existsSync(ADDON_PATH)) {
      throw new Error(`the CUDA runtime addon is not built: ${path.relative(process.cwd(), ADDON_PATH)} is missing (run bash scripts/setup.sh, or node backends/cuda/native/build.mjs)`);
    }
    addon = createRequire(import.meta.url)(ADDON_PATH) as NativeCuda;
  }
  return addon;
}
