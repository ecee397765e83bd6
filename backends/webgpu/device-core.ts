/// <reference types="@webgpu/types" preserve="true" />
// The device set-up shared by Node (Dawn) and browsers: which features and limits to ask
// for, and what a context records. Where the adapter comes from is device.ts's (Node or
// a browser) or device-browser.ts's (browsers only, so bundles never see Dawn).

export interface GpuContext {
  device: GPUDevice;
  adapter: GPUAdapter;
  info: { vendor: string; architecture: string; description: string; isSwiftShader: boolean };
  features: string[];
  limits: Record<string, number>;
}

const OPTIONAL_FEATURES = ['timestamp-query', 'subgroups', 'shader-f16'] as const;

// Defaults are far below what kernels for a large model need (e.g. 128 MiB
// bindings, 16 KiB workgroup memory), so ask for whatever the adapter allows.
const RAISED_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxStorageBuffersPerShaderStage',
] as const;

/**
 * One shared device per process, from `adapter`; a failed attempt does not poison later
 * calls (e.g. after running the set-up command).
 */
export function cachedGpu(adapter: (forceSwiftShader: boolean) => Promise<GPUAdapter>): (opts?: { forceSwiftShader?: boolean }) => Promise<GpuContext> {
  let cached: Promise<GpuContext> | undefined;
  return (opts = {}) => {
    if (!cached) {
      const p = adapter(!!opts.forceSwiftShader).then(openDevice);
      cached = p;
      p.catch(() => { if (cached === p) cached = undefined; });
      return p;
    }
    return cached.then((ctx) => {
      if (opts.forceSwiftShader && !ctx.info.isSwiftShader) {
        throw new Error(`getGpu: a hardware device (${describeGpu(ctx)}) already exists in this process; ` +
          'forceSwiftShader must be requested by the first getGpu() call');
      }
      return ctx;
    });
  };
}

export async function openDevice(adapter: GPUAdapter): Promise<GpuContext> {
  const requiredFeatures = OPTIONAL_FEATURES.filter((f) => adapter.features.has(f)) as GPUFeatureName[];
  const requiredLimits: Record<string, number> = {};
  const adapterLimits = adapter.limits as unknown as Record<string, number>;
  for (const k of RAISED_LIMITS) {
    if (typeof adapterLimits[k] === 'number') requiredLimits[k] = adapterLimits[k];
  }
  const device = await adapter.requestDevice({ requiredFeatures, requiredLimits });

  device.lost.then((info) => {
    // destroy() is the normal way to shut down; anything else means the device is unusable.
    if (info.reason !== 'destroyed') console.error(`[webgpu] device lost (${info.reason}): ${info.message}`);
  });
  device.addEventListener('uncapturederror', (ev) => {
    console.error(`[webgpu] uncaptured error: ${(ev as GPUUncapturedErrorEvent).error.message}`);
  });

  const a = adapter.info;
  const isSwiftShader = /swiftshader/i.test(`${a.vendor} ${a.architecture} ${a.device} ${a.description}`);
  // Limits are prototype getters on Dawn's object, so copy them with for-in, not Object.keys.
  const limits: Record<string, number> = {};
  const granted = device.limits as unknown as Record<string, unknown>;
  for (const k in granted) {
    const v = granted[k];
    if (typeof v === 'number') limits[k] = v;
  }
  return {
    device,
    adapter,
    info: { vendor: a.vendor, architecture: a.architecture, description: a.description, isSwiftShader },
    features: [...device.features].map(String).sort(),
    limits,
  };
}

export function describeGpu(ctx: GpuContext): string {
  const { vendor, architecture, description, isSwiftShader } = ctx.info;
  const name = [vendor, architecture, description].filter(Boolean).join(' / ') || 'unknown adapter';
  const sg = ctx.adapter.info.subgroupMinSize
    ? ` subgroup=${ctx.adapter.info.subgroupMinSize}..${ctx.adapter.info.subgroupMaxSize}`
    : '';
  const has = (f: string) => (ctx.features.includes(f) ? '+' : '-') + f;
  return `${name}${isSwiftShader ? ' [SwiftShader/CPU]' : ''}; ${has('shader-f16')} ${has('subgroups')} ` +
    `${has('timestamp-query')};${sg} maxBinding=${ctx.limits.maxStorageBufferBindingSize} ` +
    `wgMem=${ctx.limits.maxComputeWorkgroupStorageSize} wgInv=${ctx.limits.maxComputeInvocationsPerWorkgroup}`;
}
