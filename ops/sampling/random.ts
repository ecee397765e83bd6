import { f32, u32, type i32 } from '../../compiler/dsl/index.js';

/**
 * The sampling kernels' random numbers: counter-based, so a draw depends only on
 * (seed, step, row, stream) and never on launch order or the workgroup size.
 *   h = pcg(seed ^ pcg(step ^ pcg(row ^ pcg(stream))))
 *   u = (h >> 8) / 2^24, in [0, 1) with 24 random bits (exact in f32)
 * pcg is the PCG-RXS-M-XS hash of Jarzynski & Olano, "Hash Functions for GPU Rendering"
 * (JCGT 2020): one LCG step, then a random-rotate xorshift and a multiply; a bijection
 * of u32 that passes their statistical tests. Streams: sample_token uses 0;
 * verify_sample uses 2i for the acceptance coin of draft i and 2i + 1 for the token
 * drawn at position i. Host twin: uniformDraw in test/harness/sampling-reference.ts.
 */
export function pcgHash(v: u32): u32 {
  const state = v * u32(747796405) + u32(2891336453);
  const word = ((state >> ((state >> 28) + u32(4))) ^ state) * u32(277803737);
  return (word >> 22) ^ word;
}

/** u in [0, 1) for (seed, step, row, stream); see the module comment. */
export function uniformDraw(seed: u32, step: u32, row: i32, stream: i32): f32 {
  const h = pcgHash(seed ^ pcgHash(step ^ pcgHash(u32(row) ^ pcgHash(u32(stream)))));
  return f32(h >> 8) * (1.0 / 16777216.0);
}
