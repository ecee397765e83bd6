import fs from 'node:fs';
import path from 'node:path';
import { Project, Node, ts, type SourceFile } from 'ts-morph';
import type { SourceLoc } from '../common/source-loc.js';
import { CompileError } from '../common/errors.js';
import { PACKAGE_ROOT } from '../common/package-root.js';

export const REPO_ROOT = PACKAGE_ROOT;

let project: Project | undefined;
/**
 * One ts-morph project per process: the type checker is expensive to build. Its options
 * are the compiler's own, not any tsconfig's: a kernel file in a user's project must not
 * depend on that project's settings, nor on our devDependencies (`types` is empty, so
 * no @types package is required). Bundler resolution follows package `exports`
 * (`mimo-kc/dsl`) and accepts relative imports with or without `.js`.
 */
export function getProject(): Project {
  project ??= new Project({
    compilerOptions: {
      target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext, moduleResolution: ts.ModuleResolutionKind.Bundler,
      lib: ['lib.es2022.d.ts'], types: [], strict: true, noEmit: true, skipLibCheck: true, allowImportingTsExtensions: true,
    },
  });
  return project;
}

export function loadSource(file: string): SourceFile {
  const p = getProject();
  const abs = path.resolve(file);
  const existing = p.getSourceFile(abs);
  if (existing) {
    existing.refreshFromFileSystemSync();
    return existing;
  }
  return p.addSourceFileAtPath(abs);
}

/** Kernel source text given directly (tests of malformed kernels); the file need not exist. */
export function loadSourceText(file: string, text: string): SourceFile {
  return getProject().createSourceFile(path.resolve(file), text, { overwrite: true });
}

/**
 * How a kernel file is named in errors and generated headers: the package's own files
 * relative to the package (so generated/ is the same wherever it is installed), a user's
 * files relative to the current directory, as compilers cite them.
 */
export function relFile(sf: SourceFile): string {
  const abs = sf.getFilePath();
  const inPackage = path.relative(REPO_ROOT, abs);
  if (!inPackage.startsWith('..') && !path.isAbsolute(inPackage) && !inPackage.split(path.sep).includes('node_modules')) return inPackage;
  return path.relative(process.cwd(), abs) || abs;
}

export function locOf(node: Node): SourceLoc {
  const sf = node.getSourceFile();
  return locAtPos(sf, node.getStart());
}

/**
 * Where `pos` is, as line and column (1-based, lines split at '\n' as ts-morph splits them).
 * ts-morph's getLineAndColumnAtPos scans the text from its start on every call, which made
 * the frontend quadratic in file length; a per-file table of line starts and a binary
 * search keep it linear. The table is keyed by the parsed file, so an edited file gets a new one.
 */
export function locAtPos(sf: SourceFile, pos: number): SourceLoc {
  const starts = lineStarts(sf);
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid] <= pos) lo = mid;
    else hi = mid - 1;
  }
  return { file: relFile(sf), line: lo + 1, col: pos - starts[lo] + 1 };
}

const LINE_STARTS = new WeakMap<object, number[]>();
function lineStarts(sf: SourceFile): number[] {
  let starts = LINE_STARTS.get(sf.compilerNode);
  if (!starts) {
    const text = sf.getFullText();
    starts = [0];
    for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
    LINE_STARTS.set(sf.compilerNode, starts);
  }
  return starts;
}

export function errorAt(node: Node, detail: string, hint?: string): CompileError {
  return new CompileError(detail, locOf(node), node.getText(), hint);
}

/**
 * The DSL name an identifier refers to, or undefined. Uses the type checker so that a
 * user's own `exp` or an aliased import is resolved exactly as TypeScript resolves it.
 */
export function dslName(node: Node): string | undefined {
  let sym = node.getSymbol();
  if (!sym) return undefined;
  if (sym.isAlias()) sym = sym.getAliasedSymbol() ?? sym;
  const decl = sym.getDeclarations()[0];
  if (!decl) return undefined;
  return isDslFile(decl.getSourceFile().getFilePath()) ? sym.getName() : undefined;
}

/**
 * The DSL's declarations, as a kernel file reaches them: this package's source
 * (`compiler/dsl/index.ts`, which the built-in ops import) or its built declarations
 * (`mimo-kc/dsl` resolves to dist/compiler/dsl/index.d.ts), through any symlink.
 */
const DSL_FILES = new Set(['compiler/dsl/index.ts', 'dist/compiler/dsl/index.d.ts'].map((f) => realpath(path.join(REPO_ROOT, f))));
const dslFileMemo = new Map<string, boolean>();
function isDslFile(file: string): boolean {
  let yes = dslFileMemo.get(file);
  if (yes === undefined) dslFileMemo.set(file, (yes = DSL_FILES.has(realpath(file))));
  return yes;
}
function realpath(file: string): string {
  try {
    return fs.realpathSync(file);
  } catch {
    return path.resolve(file);
  }
}

/**
 * The value of a numeric literal. Not ts-morph's getLiteralValue(), which reads
 * `1.0e30` as 1; the compiler node's text is TypeScript's normalised value.
 */
export const numericValue = (node: Node): number => Number((node.compilerNode as unknown as { text: string }).text);
