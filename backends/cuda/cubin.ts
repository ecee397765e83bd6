import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { PACKAGE_ROOT } from '../../compiler/common/package-root.js';

const run = promisify(execFile);
const NVCC = process.env.NVCC ?? 'nvcc';
const INCLUDE = path.join(PACKAGE_ROOT, 'backends/cuda/include');
export const CUBIN_CACHE = path.join(PACKAGE_ROOT, '.cache', 'cuda-cubin');

/**
 * nvcc's -arch for a device of compute capability [major, minor]. sm_90 builds as sm_90a, the
 * Hopper target mimo-compile names; below 8.0 there is no bf16 tensor-core MMA, which the
 * generated GEMMs use, so such a device is refused rather than failing in ptxas.
 */
export function cubinArch(cc: readonly [number, number]): string {
  const [major, minor] = cc;
  if (major < 8) throw new Error(`compute capability ${major}.${minor} is too old: the generated kernels need sm_80 or newer (bf16 mma.sync)`);
  return major === 9 && minor === 0 ? 'sm_90a' : `sm_${major}${minor}`;
}

let nvccVersion: Promise<string> | undefined;
let builds = 0;
const version = (kernel: string) => {
  nvccVersion ??= run(NVCC, ['--version'], { encoding: 'utf8' }).then((r) => r.stdout, (e: NodeJS.ErrnoException) => {
    nvccVersion = undefined;
    throw new Error(e.code === 'ENOENT' ? `nvcc was not found (${NVCC}; set NVCC to its path)` : `${NVCC} --version failed: ${e.message}`);
  });
  return nvccVersion.catch((e: Error) => {
    throw new Error(`[kernel ${kernel}] ${e.message}`);
  });
};

/**
 * The cubin of one generated .cu for `arch`, built by nvcc on first use and cached under
 * .cache/cuda-cubin/ by the hash of the source, the prelude it includes, the arch and the
 * compiler's version. `cached` says whether this call found it there.
 */
export async function compileCubin(kernel: string, source: string, arch: string): Promise<{ readonly file: string; readonly cached: boolean }> {
  const flags = ['-cubin', '-std=c++17', `-arch=${arch}`, `-I${INCLUDE}`];
  const hash = createHash('sha256')
    .update(await version(kernel))
    .update(flags.join(' '))
    .update(fs.readFileSync(path.join(INCLUDE, 'mimo_prelude.cuh')))
    .update(source)
    .digest('hex')
    .slice(0, 24);
  const file = path.join(CUBIN_CACHE, `${hash}.cubin`);
  if (fs.existsSync(file)) return { file, cached: true };
  fs.mkdirSync(CUBIN_CACHE, { recursive: true });
  // Names of this build alone, renamed into place: concurrent builders never see a partial file.
  const tmp = path.join(CUBIN_CACHE, `${hash}.${process.pid}.${builds++}`);
  fs.writeFileSync(`${tmp}.cu`, source);
  try {
    await run(NVCC, [...flags, '-o', `${tmp}.cubin`, `${tmp}.cu`], { encoding: 'utf8', maxBuffer: 1 << 24 });
    fs.renameSync(`${tmp}.cubin`, file);
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`[kernel ${kernel}] nvcc -arch=${arch} failed:\n${err.stderr || err.message}`);
  } finally {
    fs.rmSync(`${tmp}.cu`, { force: true });
    fs.rmSync(`${tmp}.cubin`, { force: true });
  }
  return { file, cached: false };
}
