/** One hostile kernel. `source` is a whole kernel file; it imports the DSL as `import { kernel, f32, ... } from '../../../compiler/dsl/index.js'` (the virtual file lives at test/catalogue/cases/<name>.ts; the runner also accepts the two-level '../../compiler/dsl/index.js' of the first draft of this format). */
export interface CatalogueCase {
  readonly name: string;            // unique, [a-z0-9-], e.g. 'naming-local-dollar'
  readonly klass: string;           // the class, e.g. 'reserved identifiers', 'uniformity', 'literal range'
  readonly source: string;
  /** Compile must fail; every listed string must appear in the message (include the exact 'file:line:col'). */
  readonly error?: readonly string[];
  /** Compile must succeed; the kernels are then checked: Dawn accepts the WGSL, nvcc --Werror all-warnings and the g++ emulator build accept the CUDA. With `run`, each kernel runs on WebGPU, emulated CUDA and the interpreter and the outputs must be equal (and equal `expect` when given). */
  readonly run?: { readonly kernel: string; readonly tensors: Record<string, number[]>; readonly dtypes?: Record<string, string>; readonly scalars: Record<string, number>; readonly expect?: Record<string, number[]> };
}
