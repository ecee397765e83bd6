import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Kernel } from '../ir/nodes.js';
import { BYTES } from '../ir/types.js';
import { compileKernel } from '../compile.js';
import { PACKAGE_ROOT as REPO_ROOT } from '../common/package-root.js';
import { CompileError } from '../common/errors.js';
import type { TunableChoice } from '../passes/specialise.js';
import { HOST_ARRAY, type HostArray } from '../launch/args.js';
import { parsePtxas } from '../../backends/cuda/ptxas.js';
import { CUDA_TYPE } from '../codegen/cuda/emitCuda.js';
import { buildInputs } from './presets.js';
import { compareOutputs } from './check.js';
import { choiceKey } from './space.js';
import type { Measurement } from '../tuning/dbFile.js';
import { checkMeasureOptions, type MeasureOptions } from './measure.js';
import { elementCount, evalSize, foldSize } from '../ir/size.js';
import type { SizeExpr } from '../ir/nodes.js';
import { sizeToCpp } from '../codegen/cuda/sizeCpp.js';

const NVCC = process.env.NVCC ?? 'nvcc';
const INCLUDE = path.join(REPO_ROOT, 'backends/cuda/include');

/**
 * Times CUDA variants on the local GPU: each candidate is built with nvcc into a small
 * benchmark program (ptxas -v read first: a candidate that spills is recorded invalid
 * without running), which uploads the same random inputs, runs once on outputs set to
 * 0xFF bytes (NaN) for the output check, then times warm launches with CUDA events and
 * prints the median.
 */
export class CudaMeasurer {
  private reference: Record<string, HostArray> | undefined;
  private readonly dir: string;
  private readonly inputFile: string;

  constructor(private readonly k: Kernel, private readonly dims: Readonly<Record<string, number>>, private readonly opts: MeasureOptions & { readonly arch: string }) {
    checkMeasureOptions(k, opts);
    // A build cache, not a result: never inside the package (it may be in node_modules).
    this.dir = path.join(os.tmpdir(), 'mimo-kc-cuda-tune', `${k.name}-${Object.values(dims).join('x')}`);
    fs.mkdirSync(this.dir, { recursive: true });
    const host = buildInputs(k, dims);
    this.inputFile = path.join(this.dir, 'inputs.bin');
    fs.writeFileSync(this.inputFile, Buffer.concat(k.tensors.filter((t) => t.access === 'read').map((t) => Buffer.from(host[t.name].buffer, host[t.name].byteOffset, host[t.name].byteLength))));
  }

  /** Builds the benchmark for one candidate; returns the executable or why it is invalid. */
  build(choice: TunableChoice): { exe?: string; invalid?: string } {
    let c;
    try {
      c = compileKernel(this.k, 'cuda', choice);
    } catch (e) {
      if (e instanceof CompileError) return { invalid: `compile: ${e.detail}` };
      throw e;
    }
    const main = benchmarkMain(this.k, c.manifest.launcher!, this.opts.reps);
    const tag = createHash('sha256').update(c.source).update(main).update(this.opts.arch).digest('hex').slice(0, 12);
    const exe = path.join(this.dir, `bench-${tag}`);
    if (fs.existsSync(exe)) return { exe };
    const src = path.join(this.dir, `bench-${tag}.cu`);
    fs.writeFileSync(src, `${c.source}\n${main}`);
    let log: string;
    try {
      log = execFileSync(NVCC, ['-std=c++17', '-O3', `-arch=${this.opts.arch}`, '-Xptxas', '-v', `-I${INCLUDE}`, '-o', exe, src], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      return { invalid: `nvcc: ${String((e as { stderr?: string }).stderr ?? e).split('\n')[0]}` };
    }
    const spills = parsePtxas(log).find((r) => r.spillLoads + r.spillStores > 0);
    if (spills) return { invalid: `spills: ${spills.spillStores} B stores, ${spills.spillLoads} B loads` };
    return { exe };
  }

  async measure(choice: TunableChoice): Promise<Measurement> {
    const at = new Date().toISOString();
    const built = this.build(choice);
    if (!built.exe) return { invalid: built.invalid, at };
    const outFile = path.join(this.dir, `out-${choiceKey(choice)}.bin`);
    let stdout: string;
    try {
      stdout = execFileSync(built.exe, [this.inputFile, outFile, ...this.k.scalars.map((s) => String(this.dims[s.name] ?? 0))], { encoding: 'utf8', timeout: this.opts.timeoutMs * (this.opts.reps + 2) });
    } catch (e) {
      return { invalid: `runtime: ${String((e as { stderr?: string }).stderr ?? e).split('\n')[0]}`, at };
    }
    const got = this.readOutputs(outFile);
    if (!this.reference) this.reference = got;
    else {
      for (const t of this.k.tensors.filter((x) => x.access !== 'read')) {
        const why = compareOutputs(t.name, t.dtype, this.reference[t.name], got[t.name]);
        if (why) return { invalid: `wrong output: ${why}`, at };
      }
    }
    const ms = Number(/median_ms=([0-9.eE+-]+)/.exec(stdout)?.[1]);
    return Number.isFinite(ms) ? { ms, samples: this.opts.reps, at } : { invalid: `no timing in output: ${stdout.slice(0, 200)}`, at };
  }

  private readOutputs(file: string): Record<string, HostArray> {
    const bytes = fs.readFileSync(file);
    const out: Record<string, HostArray> = {};
    let off = 0;
    for (const t of this.k.tensors.filter((x) => x.access !== 'read')) {
      const n = evalSize(elementCount(t.shape), { ...this.k.consts, ...this.dims });
      const a = HOST_ARRAY[t.dtype as keyof typeof HOST_ARRAY].create(n);
      new Uint8Array(a.buffer).set(bytes.subarray(off, off + a.byteLength));
      off += a.byteLength;
      out[t.name] = a;
    }
    return out;
  }

  dispose(): void {}
}

/** main(): argv = inputs file, outputs file, scalars in manifest order. */
function benchmarkMain(k: Kernel, launcher: string, reps: number): string {
  const size = (shape: readonly SizeExpr[]) => `static_cast<size_t>(${sizeToCpp(foldSize(elementCount(shape), k.consts), (n) => n)})`;
  const lines = [
    '#include <algorithm>', '#include <cstdio>', '#include <cstdlib>', '#include <vector>',
    '#define CHECK(x) do { cudaError_t e_ = (x); if (e_ != cudaSuccess) { std::fprintf(stderr, "%s: %s\\n", #x, cudaGetErrorString(e_)); std::exit(3); } } while (0)',
    'int main(int argc, char** argv) {',
    `  if (argc != ${3 + k.scalars.length}) return 2;`,
    ...k.scalars.map((s, i) => `  const ${CUDA_TYPE[s.dtype]} ${s.name} = static_cast<${CUDA_TYPE[s.dtype]}>(${s.dtype === 'f32' ? 'std::atof' : 'std::atoll'}(argv[${3 + i}]));`),
    '  FILE* in = std::fopen(argv[1], "rb"); if (!in) return 4;',
  ];
  for (const t of k.tensors) {
    lines.push(`  const size_t ${t.name}_bytes = ${size(t.shape)} * ${BYTES[t.dtype]};`, `  void* ${t.name}_d = nullptr; CHECK(cudaMalloc(&${t.name}_d, ${t.name}_bytes > 0 ? ${t.name}_bytes : 4));`);
    if (t.access === 'read') {
      lines.push(`  { std::vector<unsigned char> h(${t.name}_bytes); if (std::fread(h.data(), 1, h.size(), in) != h.size()) return 4; CHECK(cudaMemcpy(${t.name}_d, h.data(), h.size(), cudaMemcpyHostToDevice)); }`);
    } else {
      lines.push(`  CHECK(cudaMemset(${t.name}_d, 0xff, ${t.name}_bytes));`);
    }
  }
  const call = `${launcher}(${[...k.tensors.map((t) => `${t.name}_d`), ...k.scalars.map((s) => s.name), '0'].join(', ')})`;
  lines.push(
    `  CHECK(${call}); CHECK(cudaDeviceSynchronize());`,
    '  FILE* out = std::fopen(argv[2], "wb"); if (!out) return 4;',
    ...k.tensors.filter((t) => t.access !== 'read').map((t) => `  { std::vector<unsigned char> h(${t.name}_bytes); CHECK(cudaMemcpy(h.data(), ${t.name}_d, h.size(), cudaMemcpyDeviceToHost)); std::fwrite(h.data(), 1, h.size(), out); }`),
    '  std::fclose(out);',
    '  cudaEvent_t a, b; CHECK(cudaEventCreate(&a)); CHECK(cudaEventCreate(&b));',
    `  std::vector<float> ms(${reps});`,
    `  for (int i = 0; i < 3; ++i) CHECK(${call});`,
    `  for (int i = 0; i < ${reps}; ++i) { CHECK(cudaEventRecord(a)); CHECK(${call}); CHECK(cudaEventRecord(b)); CHECK(cudaEventSynchronize(b)); CHECK(cudaEventElapsedTime(&ms[i], a, b)); }`,
    '  std::sort(ms.begin(), ms.end());',
    `  std::printf("median_ms=%.6f\\n", ms[${reps} / 2]);`,
    '  return 0;',
    '}',
  );
  return lines.join('\n');
}
