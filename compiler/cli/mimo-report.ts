import { COMPILER_VERSION } from '../version.js';
import { CUDA_ARCHS, type CudaArch } from '../codegen/cuda/arch.js';
import { REPORT_PRESETS, type ReportPreset } from '../report/workload.js';
import { choiceFlag, parseCliArgs, runCli } from './args.js';

// The compiler front end (ts-morph) and nvcc come after the command line is known good.
const heavy = () => Promise.all([import('../compile.js'), import('./select.js'), import('../report/report.js'), import('../report/format.js')]);

const HELP = `mimo-report — static performance report of the generated CUDA (an estimate: nothing is run)

Usage: mimo-report [options]

  --target cuda              what to report on (CUDA only)
  --arch sm_90a|sm_80        architecture to build the cubins for (default sm_90a); the machine
                             model follows it: sm_90a an H200 SXM, sm_80 an A100 SXM 80GB
  --preset mimo-v2-flash|tiny  shapes the bytes, FLOPs and roofline estimate are computed at
                             (default mimo-v2-flash)
  --ops GLOB                 only kernels whose name matches, e.g. 'moe_*_fp8*' (default: all)
  --json                     the report as JSON instead of tables
  -h, --help                 show this help

Per kernel: registers, spills and static shared memory (ptxas -v), occupancy, the SASS
instruction mix (needs nvdisasm: npx mimo-kc setup-cuda-tools); per preset shape:
bytes, FLOPs, L2 traffic, the estimated time and fraction of the roofline, and the bound.
Exit codes: 0 done, 1 nvcc or nvdisasm failed, 2 a usage error.
${COMPILER_VERSION}`;

async function main(argv: string[]): Promise<number> {
  const { values } = parseCliArgs({
    args: argv,
    options: {
      target: { type: 'string', default: 'cuda' },
      arch: { type: 'string', default: 'sm_90a' },
      preset: { type: 'string', default: 'mimo-v2-flash' },
      ops: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  choiceFlag('target', values.target, ['cuda'], 'cuda');
  const arch = choiceFlag('arch', values.arch, Object.keys(CUDA_ARCHS) as CudaArch[], 'sm_90a');
  const preset = choiceFlag('preset', values.preset, REPORT_PRESETS, 'mimo-v2-flash' as ReportPreset);
  const [{ compileKernel }, { selectKernels }, { buildReport }, { formatReport }] = await heavy();
  const compiled = selectKernels([], values.ops).map((k) => compileKernel(k, 'cuda', {}, undefined, arch));
  const report = await buildReport(compiled, arch, preset);
  console.log(values.json ? JSON.stringify(report, null, 2) : formatReport(report));
  return 0;
}

await runCli('mimo-report', main);
