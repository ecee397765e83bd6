/**
 * mimo-kc's compiler API (`import { compileFiles } from 'mimo-kc'`), for build tools:
 * compile DSL kernel files to WGSL and CUDA C++ in memory. The DSL itself is
 * `mimo-kc/dsl`; the WebGPU runtime is `mimo-kc/webgpu` (it does not load this module).
 */
export { compileFiles, type CompileOptions, type CompileResult } from './api.js';
export { compileKernel, generatedFiles, type CompiledKernel, type EmitTarget } from './compile.js';
export { lowerFile, lowerText } from './frontend/index.js';
export { CompileError, CompileErrors } from './common/errors.js';
export { printKernel } from './ir/printer.js';
export type { Kernel } from './ir/nodes.js';
export type { ManifestKernel, ManifestBinding } from './codegen/manifest.js';
export type { TuningFile } from './tuning/dbFile.js';
export { COMPILER_VERSION } from './version.js';
