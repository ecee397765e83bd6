import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { ManifestKernel } from '../../compiler/codegen/manifest.js';
import { CUDA_TYPE } from '../../compiler/codegen/cuda/emitCuda.js';
import { BYTES } from '../../compiler/ir/types.js';
import { kernelEntry } from '../common/kernel-runtime.js';
import { PACKAGE_ROOT as REPO_ROOT } from '../../compiler/common/package-root.js';
import { CUDA_MAX_GRID, HOST_ARRAY, checkLaunch, type HostArray, type LaunchArgs } from '../../compiler/launch/args.js';
import { elementCount } from '../../compiler/ir/size.js';
import { sizeToCpp } from '../../compiler/codegen/cuda/sizeCpp.js';

export const EMU_CACHE = path.join(REPO_ROOT, '.cache', 'cuda-emu');
export const EMU_INCLUDE = path.join(REPO_ROOT, 'backends/cuda/include');
const CUDA_INCLUDE = process.env.CUDA_INCLUDE ?? '/usr/local/cuda/include';
/** g++ flags for generated CUDA on the emulator (CudaHostRunner, CudaEmuRuntime's server). */
export const EMU_CXX_FLAGS = ['-x', 'c++', '-std=c++17', '-O1', '-Wall', '-Werror', '-Wno-unknown-pragmas', '-DMIMO_HOST_EMU', `-I${EMU_INCLUDE}`, `-I${CUDA_INCLUDE}`];

export interface CudaHostRunnerOptions {
  /**
   * Wall-clock limit of one emulated launch, in ms (default 600000): a kernel that never
   * ends (e.g. `while (true) {}`) is killed and reported instead of hanging the caller.
   * The op tests' largest shapes take seconds, so the default only catches real hangs.
   */
  readonly timeoutMs?: number;
  /**
   * Preprocessor macros for the g++ build (`NAME` or `NAME=VALUE`), e.g. 'MIMO_EMU_SM90A' to run
   * the sm_90a branch of per-architecture code (IR archSwitch) as nvcc -arch=sm_90a would.
   */
  readonly defines?: readonly string[];
}

/**
 * Runs generated CUDA on the CPU: the .cu is compiled unchanged with g++ against our
 * emulation layer (backends/cuda/include/mimo_cuda_emu.h) together with a small main()
 * that reads the tensors from stdin, calls the extern "C" launcher and writes back the
 * tensors the kernel writes. Binaries are cached by content hash.
 */
export class CudaHostRunner {
  private readonly binaries = new Map<string, string>();
  /** The executable's first argument: which of the kernels built into it to launch. */
  private readonly selector = new Map<string, string>();

  private readonly timeoutMs: number;
  private readonly defines: readonly string[];

  constructor(readonly manifest: { readonly kernels: Readonly<Record<string, ManifestKernel>> }, readonly sources: Readonly<Record<string, string>>, opts: CudaHostRunnerOptions = {}) {
    this.timeoutMs = opts.timeoutMs ?? 600_000;
    if (!(Number.isInteger(this.timeoutMs) && this.timeoutMs > 0)) throw new RangeError(`CudaHostRunner: timeoutMs must be a positive integer, got ${opts.timeoutMs}`);
    this.defines = opts.defines ?? [];
    for (const d of this.defines) if (!/^[A-Za-z_]\w*(=\w+)?$/.test(d)) throw new RangeError(`CudaHostRunner: defines entry '${d}' is not NAME or NAME=VALUE`);
  }

  binary(name: string): string {
    if (!this.binaries.has(name)) this.build([name]);
    return this.binaries.get(name)!;
  }

  /**
   * Builds one executable for several kernels: one g++ run, since the emulator headers
   * dominate the build time (a test of many small kernels builds once). run() uses it.
   */
  prebuild(names: readonly string[]): void {
    this.build(names.filter((n) => !this.binaries.has(n)));
  }

  private build(names: readonly string[]): void {
    if (!names.length) return;
    const ms = names.map((n) => kernelEntry(this.manifest.kernels, n));
    const main = driverSource(ms);
    // Every header: the prelude and the emulator include others (mimo_emu_*.h, mimo_*.cuh).
    const prelude = fs.readdirSync(EMU_INCLUDE).filter((f) => /\.(h|cuh)$/.test(f)).sort().map((f) => fs.readFileSync(path.join(EMU_INCLUDE, f), 'utf8')).join('');
    const h = createHash('sha256');
    for (const n of names) h.update(this.sources[n]);
    const hash = h.update(main).update(prelude).update(this.defines.join(' ')).digest('hex').slice(0, 16);
    // The file name is short and ASCII; the kernel name need not be.
    const dir = path.join(EMU_CACHE, `${names.length === 1 ? path.basename(ms[0].file, '.cu') : `batch${names.length}`}-${hash}`);
    const exe = path.join(dir, 'run');
    if (!fs.existsSync(exe)) {
      // Built in a folder of this process's own, then renamed into place: test files run in
      // parallel processes and may build the same kernels at the same time.
      const build = `${dir}.${process.pid}.build`;
      fs.rmSync(build, { recursive: true, force: true });
      fs.mkdirSync(build, { recursive: true });
      names.forEach((n, i) => fs.writeFileSync(path.join(build, `kernel${i}.cu`), this.sources[n]));
      fs.writeFileSync(path.join(build, 'main.cpp'), main);
      try {
        execFileSync('g++', [...EMU_CXX_FLAGS, ...this.defines.map((d) => `-D${d}`), '-o', path.join(build, 'run'), path.join(build, 'main.cpp')], { stdio: ['ignore', 'pipe', 'pipe'] });
      } catch (e) {
        const err = e as { stderr?: Buffer };
        fs.rmSync(build, { recursive: true, force: true });
        throw new Error(`[kernel ${names.join(', ')}] host build of generated CUDA failed:\n${err.stderr?.toString() ?? e}`);
      }
      // A folder without its executable is a build that was interrupted: replace it.
      if (fs.existsSync(dir) && !fs.existsSync(exe)) fs.rmSync(dir, { recursive: true, force: true });
      try {
        fs.renameSync(build, dir);
      } catch {
        // Another process finished the same build first; its result is the same.
        fs.rmSync(build, { recursive: true, force: true });
      }
    }
    names.forEach((n, i) => {
      this.binaries.set(n, exe);
      this.selector.set(n, String(i));
    });
  }

  /** Same contract as WebGpuRuntime.run: returns every tensor the kernel writes. */
  run(name: string, args: LaunchArgs): Record<string, HostArray> {
    const m = kernelEntry(this.manifest.kernels, name);
    checkLaunch(m, args, undefined, { maxGrid: CUDA_MAX_GRID });
    const input = Buffer.concat(m.bindings.map((b) => {
      const a = args.tensors[b.name];
      return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
    }));
    const argv = m.scalars.map((s) => String(args.scalars[s.name]));
    let output: Buffer;
    try {
      output = execFileSync(this.binary(name), [this.selector.get(name)!, ...argv], { input, maxBuffer: 1 << 30, stdio: ['pipe', 'pipe', 'pipe'], timeout: this.timeoutMs, killSignal: 'SIGKILL' });
    } catch (e) {
      const err = e as { stderr?: Buffer; status?: number; code?: string };
      if (err.code === 'ETIMEDOUT') throw new Error(`[kernel ${name}] emulated CUDA run stopped after ${this.timeoutMs} ms (an infinite loop?); CudaHostRunner's timeoutMs sets the limit`);
      throw new Error(`[kernel ${name}] emulated CUDA run failed (exit ${err.status}):\n${err.stderr?.toString() ?? e}`);
    }
    const out: Record<string, HostArray> = {};
    let offset = 0;
    for (const b of m.bindings) {
      if (b.access === 'read') continue;
      const n = args.tensors[b.name].length;
      const a = HOST_ARRAY[b.dtype as keyof typeof HOST_ARRAY].create(n);
      new Uint8Array(a.buffer).set(output.subarray(offset, offset + a.byteLength));
      offset += a.byteLength;
      out[b.name] = a;
    }
    return out;
  }
}

/**
 * main(argv[1] = kernel index, then the scalars in manifest order): tensors from stdin
 * (binding order), written tensors to stdout. The drivers' locals are positional (s0,
 * t0_buf): a user's name may be a C++ keyword or macro, or `argv`.
 */
function driverSource(ms: readonly ManifestKernel[]): string {
  const lines = [...ms.map((_, i) => `#include "kernel${i}.cu"`), '#include <cstdio>', '#include <cstdlib>', '#include <vector>'];
  ms.forEach((m, k) => {
    const scalar = new Map(m.scalars.map((s, i) => [s.name, `s${i}`]));
    lines.push(
      `static int mimo_drive${k}(int argc, char** argv) {`,
      `  if (argc != ${m.scalars.length + 1}) { std::fprintf(stderr, "expected ${m.scalars.length} scalar arguments\\n"); return 2; }`,
    );
    m.scalars.forEach((s, i) => lines.push(`  const ${CUDA_TYPE[s.dtype]} s${i} = static_cast<${CUDA_TYPE[s.dtype]}>(${s.dtype === 'f32' ? 'std::atof' : 'std::atoll'}(argv[${i + 1}]));`));
    m.bindings.forEach((b, i) => {
      const n = `static_cast<size_t>(${sizeToCpp(elementCount(b.shapeExpr), (d) => scalar.get(d) ?? d)})`;
      lines.push(
        `  std::vector<unsigned char> t${i}_buf(${n} * ${BYTES[b.dtype]});`,
        `  if (!t${i}_buf.empty() && std::fread(t${i}_buf.data(), 1, t${i}_buf.size(), stdin) != t${i}_buf.size()) { std::fprintf(stderr, "short input for tensor ${i}\\n"); return 2; }`,
      );
    });
    const call = [...m.bindings.map((_, i) => `t${i}_buf.data()`), ...m.scalars.map((_, i) => `s${i}`), 'nullptr'];
    lines.push(
      `  const cudaError_t err = ${m.launcher}(${call.join(', ')});`,
      '  if (err != cudaSuccess) { std::fprintf(stderr, "launch failed: error %d\\n", static_cast<int>(err)); return 3; }',
      ...m.bindings.flatMap((b, i) => (b.access === 'read' ? [] : [`  std::fwrite(t${i}_buf.data(), 1, t${i}_buf.size(), stdout);`])),
      '  return 0;',
      '}',
    );
  });
  lines.push(
    'int main(int argc, char** argv) {',
    '  const int which = argc > 1 ? std::atoi(argv[1]) : -1;',
    ...ms.map((_, k) => `  if (which == ${k}) return mimo_drive${k}(argc - 1, argv + 1);`),
    '  std::fprintf(stderr, "no kernel %d in this executable\\n", which);',
    '  return 2;',
    '}',
    '',
  );
  return lines.join('\n');
}
