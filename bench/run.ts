/**
 * Benchmarks (tinybench; never part of the test suite). Everything is measured in one
 * run on one adapter, and reported as ratios, because these machines are noisy.
 *   npm run bench            GEMM vs tf.js WebGPU, and compile time of all ops
 *   npm run bench -- gemm    only the GEMM comparison
 *   npm run bench -- attention   SWA vs global causal prefill at T = 512, 1024, 2048, and against the FP32 baseline at 2048
 *   npm run bench -- moe     a tiny MoE layer, and the grouped GEMM vs a dense GEMM of the same FLOPs
 *   npm run bench -- model   the tiny model: prefill/decode tok/s, runtime overhead, MTP
 */
import { Bench } from 'tinybench';
import { describeGpu, getGpu } from '../backends/webgpu/device.js';
import { benchGemm } from './gemm-vs-tfjs.js';
import { benchCompile } from './compile-time.js';
import { benchMoe } from './moe.js';
import { benchAttentionPrefill } from './attention-prefill.js';
import { benchModel } from './model.js';

const which = process.argv[2];
const gpu = await getGpu();
console.log(`device: ${describeGpu(gpu)}\n`);
if (!which || which === 'gemm') await benchGemm(gpu);
if (!which || which === 'compile') await benchCompile(new Bench({ iterations: 3, time: 0, warmupIterations: 1 }));
if (!which || which === 'attention') await benchAttentionPrefill(gpu, new Bench({ iterations: 5, time: 0, warmupIterations: 1 }));
if (!which || which === 'moe') await benchMoe(gpu, new Bench({ iterations: 5, time: 0, warmupIterations: 1 }));
if (!which || which === 'model') await benchModel();
