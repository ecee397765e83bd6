/**
 * The report's data: per kernel what ptxas and the SASS say, and per preset case the
 * estimate. Built from compiled kernels, so it reports what mimo-compile would emit now.
 */
import type { CompiledKernel } from '../compile.js';
import type { CudaArch } from '../codegen/cuda/arch.js';
import { estimate, type Estimate } from './estimate.js';
import { MACHINES, occupancy, type Machine, type Occupancy } from './machine.js';
import { parseSass, type SassMix } from './sass.js';
import { buildCubin, disassemble, findNvdisasm, type Resources } from './tools.js';
import { FAMILIES, presetCases, type Case, type ReportPreset } from './workload.js';

export interface KernelReport {
  readonly name: string;
  readonly symbol: string;
  readonly threads: number;
  readonly resources: Resources;
  /** Shared memory per block: ptxas's static bytes plus the launch's dynamic arena (past 48 KiB). */
  readonly sharedBytes: number;
  readonly occupancy: Occupancy;
  /** Absent when nvdisasm is not available (Report.sassMissing says why). */
  readonly sass?: SassMix;
  readonly cases: readonly (Case & { readonly estimate: Estimate })[];
}

export interface Report {
  readonly header: string;
  readonly machine: Machine;
  readonly arch: CudaArch;
  readonly preset: ReportPreset;
  readonly sassMissing?: string;
  readonly kernels: readonly KernelReport[];
}

export async function buildReport(compiled: readonly CompiledKernel[], arch: CudaArch, preset: ReportPreset): Promise<Report> {
  const m = MACHINES[arch];
  const header = `mimo-report: static ESTIMATE (no kernel was run) of the generated CUDA on ${m.name}, preset ${preset}; model and constants: README "Static performance report"`;
  const [tool, built] = await Promise.all([findNvdisasm(), buildCubin(new Map(compiled.map((c) => [c.kernel.name, c.source])), arch)]);
  try {
    const sass = 'path' in tool ? parseSass(await disassemble(tool.path, built.cubin)) : undefined;
    const cases = presetCases(preset);
    const kernels = compiled.map((c): KernelReport => {
      const mk = c.manifest;
      const symbol = mk.kernelSymbol!;
      const resources = built.resources.find((r) => r.kernel === symbol);
      if (!resources) throw new Error(`kernel ${mk.name}: ptxas printed no resource usage for ${symbol} (got: ${built.resources.map((r) => r.kernel).join(', ')})`);
      const mix = sass?.get(symbol);
      if (sass && !mix) throw new Error(`kernel ${mk.name}: nvdisasm output has no function ${symbol}`);
      const threads = mk.workgroupSize.reduce((a, b) => a * b, 1);
      const fam = FAMILIES[mk.name];
      const sharedBytes = resources.smem + (mk.dynamicSharedBytes ?? 0);
      return {
        name: mk.name, symbol, threads, resources, sass: mix,
        // ptxas counts static shared memory only; a launch adds its dynamic arena (past 48 KiB).
        sharedBytes,
        occupancy: occupancy(m, threads, resources.registers, sharedBytes),
        cases: (cases[mk.name] ?? []).map((cs) => ({ ...cs, estimate: estimate(mk, cs, fam, m, mix) })),
      };
    });
    return { header, machine: m, arch, preset, sassMissing: 'why' in tool ? tool.why : undefined, kernels };
  } finally {
    built.dispose();
  }
}
