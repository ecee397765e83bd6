// One shared WebGPU device per process: a real GPU when there is one, otherwise
// SwiftShader (a CPU Vulkan driver) so that everything also runs on GPU-less CI.

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

const SETUP_HINT = 'bash scripts/setup-swiftshader.sh';

let cached: Promise<GpuContext> | undefined;
// Dawn's GPU object owns the native instance; keep it reachable for the device's lifetime.
let instance: GPU | undefined;

export function getGpu(opts: { forceSwiftShader?: boolean } = {}): Promise<GpuContext> {
  if (!cached) {
    cached = init(opts);
    // A failed attempt must not poison later calls (e.g. after running the setup script).
    cached.catch(() => { cached = undefined; });
    return cached;
  }
  return cached.then((ctx) => {
    if (opts.forceSwiftShader && !ctx.info.isSwiftShader) {
      throw new Error(`getGpu: a hardware device (${describeGpu(ctx)}) already exists in this process; ` +
        'forceSwiftShader must be requested by the first getGpu() call');
    }
    return ctx;
  });
}

async function init(opts: { forceSwiftShader?: boolean }): Promise<GpuContext> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  const isNode = typeof process !== 'undefined' && !!process.versions?.node;
  let adapter: GPUAdapter | null;
  if (!isNode && nav?.gpu) {
    instance = nav.gpu;
    adapter = await nav.gpu.requestAdapter({ powerPreference: 'high-performance' });
    if (!adapter) throw new Error('getGpu: navigator.gpu.requestAdapter() returned null (WebGPU disabled or unsupported)');
  } else if (isNode) {
    adapter = await nodeAdapter(!!opts.forceSwiftShader || process.env.MIMO_SWIFTSHADER === '1');
  } else {
    throw new Error('getGpu: WebGPU is not available here (no navigator.gpu and not Node.js)');
  }
  return openDevice(adapter);
}

async function nodeAdapter(forceSwiftShader: boolean): Promise<GPUAdapter> {
  const { create, globals } = await import('webgpu');
  // Dawn keeps GPUBufferUsage, GPUMapMode, ... on `globals`; kernels expect them global as in browsers.
  Object.assign(globalThis, globals);

  if (!forceSwiftShader && (await mayHaveHardwareGpu())) {
    instance = create([]);
    const hw = await instance.requestAdapter({ powerPreference: 'high-performance' });
    if (hw) return hw;
  }

  const icd = await swiftShaderIcd();
  // The Vulkan loader reads these when Dawn creates its instance, so they must be
  // set before create(); a new instance picks them up even after a failed probe.
  process.env.VK_ICD_FILENAMES = icd;
  if (!process.env.XDG_RUNTIME_DIR) process.env.XDG_RUNTIME_DIR = await runtimeDir();
  instance = create([]);
  const sw = await instance.requestAdapter();
  if (!sw) {
    throw new Error(`getGpu: no WebGPU adapter, not even SwiftShader via ${icd}. ` +
      `Run \`${SETUP_HINT}\` (as root, Debian/Ubuntu) and check that libvulkan.so.1 is installed.`);
  }
  return sw;
}

// Probing Vulkan on a machine without any GPU device node only prints Dawn's
// "Found no drivers" warnings, so skip it where it cannot succeed (Linux only).
async function mayHaveHardwareGpu(): Promise<boolean> {
  if (process.platform !== 'linux') return true;
  const { existsSync } = await import('node:fs');
  return existsSync('/dev/dri') || existsSync('/dev/nvidiactl');
}

async function swiftShaderIcd(): Promise<string> {
  const { existsSync } = await import('node:fs');
  const { fileURLToPath } = await import('node:url');
  const { execFileSync } = await import('node:child_process');
  const root = fileURLToPath(new URL('../../', import.meta.url));
  const icd = `${root}.cache/swiftshader/icd.json`;
  if (existsSync(icd)) return icd;
  const script = `${root}scripts/setup-swiftshader.sh`;
  console.error(`[webgpu] no GPU adapter and no SwiftShader yet; running ${script}`);
  try {
    // stdout goes to stderr so that callers printing JSON/CSV on stdout stay clean.
    execFileSync('bash', [script], { stdio: ['ignore', 2, 2] });
  } catch (e) {
    throw new Error(`getGpu: ${script} failed (${(e as Error).message}). Run \`${SETUP_HINT}\` as root and retry.`);
  }
  if (!existsSync(icd)) throw new Error(`getGpu: ${script} did not produce ${icd}. Run \`${SETUP_HINT}\` as root.`);
  return icd;
}

async function runtimeDir(): Promise<string> {
  const { mkdirSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const dir = `${tmpdir()}/mimo-xdg-${process.getuid?.() ?? 'user'}`;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}

async function openDevice(adapter: GPUAdapter): Promise<GpuContext> {
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
