import fs from 'node:fs';

/** nvcc for the tests that compile generated CUDA: $NVCC, else the usual install paths, else the PATH's. */
export const NVCC = process.env.NVCC ?? (['/usr/local/cuda/bin/nvcc', '/usr/local/bin/nvcc'].find((p) => fs.existsSync(p)) ?? 'nvcc');
/** The toolkit headers (cuda_bf16.h, cuda_fp8.h) that the CPU-emulator builds compile against too. */
export const CUDA_INCLUDE = process.env.CUDA_INCLUDE ?? '/usr/local/cuda/include';
