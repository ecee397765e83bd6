import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { ManifestKernel } from '../../compiler/codegen/manifest.js';
import { CUDA_TYPE } from '../../compiler/codegen/cuda/emitCuda.js';
import { BYTES } from '../../compiler/ir/types.js';
import { REPO_ROOT } from '../../compiler/frontend/source.js';
import { HOST_ARRAY, checkLaunch, type HostArray, type LaunchArgs } from '../common/args.js';

const CACHE = path.join(REPO_ROOT, '.cache', 'cuda-emu');
const INCLUDE = path.join(REPO_ROOT, 'backends/cuda/include');
const CUDA_INCLUDE = process.env.CUDA_INCLUDE ?? '/usr/local/cuda/include';

/**
 * Runs generated CUDA on the CPU: the .cu is compiled unchanged with g++ against our
 * emulation layer (backends/cuda/include/mimo_cuda_emu.h) together with a small main()
 * that reads the tensors from stdin, calls the extern "C" launcher and writes back the
 * tensors the kernel writes. Binaries are cached by content hash.
 */
export class CudaHostRunner {
  private readonly binaries = new Map<string, string>();

  constructor(readonly manifest: { readonly kernels: Readonly<Record<string, ManifestKernel>> }, readonly sources: Readonly<Record<string, string>>) {}

  binary(name: string): string {
    const m = this.manifest.kernels[name];
    if (!m) throw new Error(`unknown kernel '${name}'`);
    const cached = this.binaries.get(name);
    if (cached) return cached;
    const main = driverSource(m);
    const prelude = fs.readFileSync(path.join(INCLUDE, 'mimo_prelude.cuh'), 'utf8') + fs.readFileSync(path.join(INCLUDE, 'mimo_cuda_emu.h'), 'utf8');
    const hash = createHash('sha256').update(this.sources[name]).update(main).update(prelude).digest('hex').slice(0, 16);
    const dir = path.join(CACHE, `${name}-${hash}`);
    const exe = path.join(dir, 'run');
    if (!fs.existsSync(exe)) {
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, 'kernel.cu'), this.sources[name]);
      fs.writeFileSync(path.join(dir, 'main.cpp'), main);
      try {
        execFileSync('g++', ['-x', 'c++', '-std=c++17', '-O1', '-Wall', '-Werror', '-Wno-unknown-pragmas', '-DMIMO_HOST_EMU', `-I${INCLUDE}`, `-I${CUDA_INCLUDE}`, '-o', `${exe}.tmp`, path.join(dir, 'main.cpp')], { stdio: ['ignore', 'pipe', 'pipe'] });
      } catch (e) {
        const err = e as { stderr?: Buffer };
        throw new Error(`[kernel ${name}] host build of generated CUDA failed:\n${err.stderr?.toString() ?? e}`);
      }
      fs.renameSync(`${exe}.tmp`, exe);
    }
    this.binaries.set(name, exe);
    return exe;
  }

  /** Same contract as WebGpuRuntime.run: returns every tensor the kernel writes. */
  run(name: string, args: LaunchArgs): Record<string, HostArray> {
    const m = this.manifest.kernels[name];
    if (!m) throw new Error(`unknown kernel '${name}'`);
    checkLaunch(m, args);
    const input = Buffer.concat(m.bindings.map((b) => {
      const a = args.tensors[b.name];
      return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
    }));
    const argv = m.scalars.map((s) => String(args.scalars[s.name]));
    let output: Buffer;
    try {
      output = execFileSync(this.binary(name), argv, { input, maxBuffer: 1 << 30, stdio: ['pipe', 'pipe', 'pipe'] });
    } catch (e) {
      const err = e as { stderr?: Buffer; status?: number };
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

/** main(): scalars from argv (manifest order), tensors from stdin (binding order), written tensors to stdout. */
function driverSource(m: ManifestKernel): string {
  const lines = [
    '#include "kernel.cu"',
    '#include <cstdio>',
    '#include <cstdlib>',
    '#include <vector>',
    'int main(int argc, char** argv) {',
    `  if (argc != ${m.scalars.length + 1}) { std::fprintf(stderr, "expected ${m.scalars.length} scalar arguments\\n"); return 2; }`,
  ];
  m.scalars.forEach((s, i) => lines.push(`  const ${CUDA_TYPE[s.dtype]} ${s.name} = static_cast<${CUDA_TYPE[s.dtype]}>(${s.dtype === 'f32' ? 'std::atof' : 'std::atoll'}(argv[${i + 1}]));`));
  for (const b of m.bindings) {
    const n = b.shape.map((d) => `static_cast<size_t>(${d})`).join(' * ');
    lines.push(
      `  std::vector<unsigned char> ${b.name}_buf(${n} * ${BYTES[b.dtype]});`,
      `  if (!${b.name}_buf.empty() && std::fread(${b.name}_buf.data(), 1, ${b.name}_buf.size(), stdin) != ${b.name}_buf.size()) { std::fprintf(stderr, "short input for ${b.name}\\n"); return 2; }`,
    );
  }
  const call = [...m.bindings.map((b) => `${b.name}_buf.data()`), ...m.scalars.map((s) => s.name), 'nullptr'];
  lines.push(
    `  const cudaError_t err = ${m.launcher}(${call.join(', ')});`,
    '  if (err != cudaSuccess) { std::fprintf(stderr, "launch failed: error %d\\n", static_cast<int>(err)); return 3; }',
    ...m.bindings.filter((b) => b.access !== 'read').map((b) => `  std::fwrite(${b.name}_buf.data(), 1, ${b.name}_buf.size(), stdout);`),
    '  return 0;',
    '}',
    '',
  );
  return lines.join('\n');
}
