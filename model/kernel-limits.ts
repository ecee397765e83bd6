/**
 * The compile-time constants of the kernels the model runs (ops/attention/*.ts,
 * ops/rmsnorm.ts, ops/attention/kvcache.ts), mirrored for host code: a config asking for
 * anything else is refused when it is read rather than computing something wrong.
 * test/model-config.test.ts checks these against the kernel sources.
 */
export const KERNEL_LIMITS = {
  /** HEAD_QK of the attention kernels (DQK, scale 1/sqrt(192)). */
  headDim: 192,
  /** HEAD_V of the attention kernels. */
  vHeadDim: 128,
  /** WINDOW of swa_prefill / swa_decode: keys visible to a query, itself included. */
  window: 128,
  /** EPS of rmsnorm. */
  rmsEps: 1e-5,
  /** V_SCALE of the KV writes (attention_value_scale). */
  valueScale: 0.707,
} as const;
