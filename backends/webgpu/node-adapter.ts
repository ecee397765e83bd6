// A WebGPU adapter in Node: Dawn (the `webgpu` package) on a hardware GPU, or on
// SwiftShader. Nothing is installed at run time: SwiftShader is set up once by an
// explicit command, and its absence is an error that names that command.
import { existsSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const SETUP_COMMAND = 'npx mimo-kc setup-swiftshader';

// Dawn's GPU object owns the native instance; keep it reachable for the device's lifetime.
let instance: GPU | undefined;

export async function nodeAdapter(forceSwiftShader: boolean): Promise<GPUAdapter> {
  const { create, globals } = await import('webgpu');
  // Dawn keeps GPUBufferUsage, GPUMapMode, ... on `globals`; kernels expect them global as in browsers.
  Object.assign(globalThis, globals);

  if (!forceSwiftShader && mayHaveHardwareGpu()) {
    instance = create([]);
    const hw = await instance.requestAdapter({ powerPreference: 'high-performance' });
    if (hw) return hw;
  }

  const icd = swiftShaderIcd();
  if (!icd) {
    throw new Error(`getGpu: no WebGPU adapter: no hardware GPU, and SwiftShader is not set up (looked for ${icdCandidates().join(', ')}). ` +
      `Run \`${SETUP_COMMAND}\` once (Debian/Ubuntu; it uses apt-get, as root or with sudo), or set MIMO_SWIFTSHADER_DIR.`);
  }
  // The Vulkan loader reads these when Dawn creates its instance, so they must be
  // set before create(); a new instance picks them up even after a failed probe.
  process.env.VK_ICD_FILENAMES = icd;
  if (!process.env.XDG_RUNTIME_DIR) process.env.XDG_RUNTIME_DIR = runtimeDir();
  instance = create([]);
  const sw = await instance.requestAdapter();
  if (!sw) {
    throw new Error(`getGpu: no WebGPU adapter, not even SwiftShader via ${icd}. ` +
      `Check that libvulkan.so.1 is installed (\`${SETUP_COMMAND}\` installs it).`);
  }
  return sw;
}

// Probing Vulkan on a machine without any GPU device node only prints Dawn's
// "Found no drivers" warnings, so skip it where it cannot succeed (Linux only).
function mayHaveHardwareGpu(): boolean {
  if (process.platform !== 'linux') return true;
  return existsSync('/dev/dri') || existsSync('/dev/nvidiactl');
}

/**
 * Where the set-up command puts SwiftShader, in the order it is looked for: an explicit
 * folder, a clone's own .cache/, the user's cache (an installed package's default, since
 * node_modules is not a place to write into).
 */
export function icdCandidates(): string[] {
  const root = fileURLToPath(new URL('../../', import.meta.url)).replace(/[/\\]dist[/\\]?$/, '');
  const userCache = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return [
    ...(process.env.MIMO_SWIFTSHADER_DIR ? [path.join(process.env.MIMO_SWIFTSHADER_DIR, 'icd.json')] : []),
    path.join(root, '.cache/swiftshader/icd.json'),
    path.join(userCache, 'mimo-kc/swiftshader/icd.json'),
  ];
}

const swiftShaderIcd = (): string | undefined => icdCandidates().find((f) => existsSync(f));

function runtimeDir(): string {
  const dir = `${os.tmpdir()}/mimo-xdg-${process.getuid?.() ?? 'user'}`;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}
