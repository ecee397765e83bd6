/**
 * `mimo-kc/model`: MiMo-V2-Flash on a kernel runtime (WebGPU, the CUDA emulator or a CUDA
 * GPU) — configs, checkpoints, the tokenizer, plain and MTP generation (what mimo-generate drives).
 */
export { loadCheckpointModel, modelRuntime, type LoadedModel, type LoadOptions } from './load.js';
export type { BackendName, KernelRuntime } from '../backends/common/kernel-runtime.js';
export { Model, generate, type GenerateOptions, type GenerateResult, type TokenLogprobs } from './generate.js';
export { generateMtp, type MtpOptions, type MtpResult } from './generate-mtp.js';
export { parseConfig, ConfigError, type MimoConfig } from './config.js';
export { presetConfig, PRESETS } from './presets.js';
export { loadTokenizer, TokenizerError, type LoadedTokenizer, type ChatMessage } from './tokenizer.js';
export { openCheckpoint, validateCheckpoint, CheckpointError } from './weights/checkpoint.js';
export { GREEDY, SamplingError, type SamplingParams } from './sampling.js';
