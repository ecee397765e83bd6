/**
 * The CUDA tools the report runs: nvcc (its ptxas -v resource lines) for one cubin of all
 * selected kernels, and nvdisasm for its SASS. nvdisasm is not in the CUDA 13 toolkit;
 * scripts/setup-cuda-tools.sh fetches it into the cache folder looked up here.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { PACKAGE_ROOT } from '../common/package-root.js';
import { CliError } from '../cli/args.js';
import { parsePtxas, type PtxasReport } from '../../backends/cuda/ptxas.js';

const run = promisify(execFile);
const NVCC = process.env.NVCC ?? 'nvcc';
export const SETUP_COMMAND = 'npx mimo-kc setup-cuda-tools (in a clone: bash scripts/setup-cuda-tools.sh)';

/** ptxas -v per kernel: registers and spills (parsePtxas), static shared memory and barriers. */
export interface Resources extends PtxasReport {
  readonly smem: number;
  readonly barriers: number;
}

/** The folders setup-cuda-tools.sh writes to, in its order of preference. */
function toolDirs(): string[] {
  const xdg = process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache');
  return [process.env.MIMO_CUDA_TOOLS_DIR, path.join(PACKAGE_ROOT, '.cache/cuda-tools'), path.join(xdg, 'mimo-kc/cuda-tools')]
    .filter((d): d is string => !!d)
    .map((d) => path.join(d, 'bin'));
}

/** nvdisasm: $NVDISASM, else the set-up's cache, else the PATH's; null (with why) when none runs. */
export async function findNvdisasm(): Promise<{ path: string } | { why: string }> {
  const candidates = process.env.NVDISASM ? [process.env.NVDISASM] : [...toolDirs().map((d) => path.join(d, 'nvdisasm')).filter((p) => fs.existsSync(p)), 'nvdisasm'];
  for (const p of candidates) {
    try {
      await run(p, ['--version']);
      return { path: p };
    } catch {
      // The next candidate.
    }
  }
  const where = process.env.NVDISASM ? `NVDISASM=${process.env.NVDISASM} does not run` : 'nvdisasm is not in this CUDA toolkit';
  return { why: `${where}; run ${SETUP_COMMAND} for the SASS instruction mix` };
}

/**
 * One cubin of the given sources (each self-contained, symbols unique), built as the
 * CMake library builds them (`-cubin -arch=ARCH -std=c++17`), with ptxas's report.
 */
export async function buildCubin(sources: ReadonlyMap<string, string>, arch: string): Promise<{ cubin: string; resources: Resources[]; dispose: () => void }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mimo-report-'));
  const dispose = () => fs.rmSync(dir, { recursive: true, force: true });
  for (const [name, src] of sources) fs.writeFileSync(path.join(dir, `${name}.cu`), src);
  const unit = path.join(dir, 'unit.cu');
  fs.writeFileSync(unit, [...sources.keys()].map((n) => `#include "${n}.cu"\n`).join(''));
  const cubin = path.join(dir, 'unit.cubin');
  try {
    const r = await run(NVCC, ['-cubin', '-std=c++17', `-arch=${arch}`, '-Xptxas', '-v', `-I${path.join(PACKAGE_ROOT, 'backends/cuda/include')}`, '-o', cubin, unit], { maxBuffer: 1 << 26 });
    return { cubin, resources: parseResources(r.stdout + r.stderr), dispose };
  } catch (e) {
    dispose();
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    if (err.code === 'ENOENT') throw new CliError(`nvcc was not found (${NVCC}; set NVCC to its path): the report builds each kernel's cubin`);
    throw new CliError(`nvcc -cubin -arch=${arch} failed for ${[...sources.keys()].join(', ')}:\n${err.stderr?.trim() || err.message}`);
  }
}

export async function disassemble(nvdisasm: string, cubin: string): Promise<string> {
  try {
    return (await run(nvdisasm, ['-c', cubin], { maxBuffer: 1 << 28 })).stdout;
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new CliError(`${nvdisasm} -c ${path.basename(cubin)} failed: ${err.stderr?.trim() || err.message}`);
  }
}

/** parsePtxas's figures plus `Used N registers, used B barriers, S bytes smem` of the same entry. */
export function parseResources(log: string): Resources[] {
  const extra = new Map<string, { smem: number; barriers: number }>();
  let key = '';
  for (const line of log.split('\n')) {
    const fn = /Compiling entry function '([^']+)'(?: for '([^']+)')?/.exec(line);
    if (fn) key = `${fn[1]}@${fn[2] ?? ''}`;
    if (/Used \d+ registers/.test(line) && key) {
      extra.set(key, { smem: Number(/(\d+) bytes smem/.exec(line)?.[1] ?? 0), barriers: Number(/used (\d+) barriers/.exec(line)?.[1] ?? 0) });
    }
  }
  return parsePtxas(log).map((r) => ({ ...r, ...(extra.get(`${r.kernel}@${r.arch}`) ?? { smem: 0, barriers: 0 }) }));
}
