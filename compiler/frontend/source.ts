import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Project, Node, type SourceFile } from 'ts-morph';
import type { SourceLoc } from '../ir/types.js';
import { CompileError } from './errors.js';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const DSL_FILE = path.join(REPO_ROOT, 'compiler/dsl/index.ts');

let project: Project | undefined;
/** One ts-morph project per process: the type checker is expensive to build. */
export function getProject(): Project {
  // The repo's tsconfig lints unused locals for our own code; in a kernel an unused import
  // or variable is not an error, so the kernel compiler does not report it.
  project ??= new Project({
    tsConfigFilePath: path.join(REPO_ROOT, 'tsconfig.json'), skipAddingFilesFromTsConfig: true,
    compilerOptions: { noUnusedLocals: false, noUnusedParameters: false },
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

export const relFile = (sf: SourceFile): string => path.relative(REPO_ROOT, sf.getFilePath()) || sf.getFilePath();

export function locOf(node: Node): SourceLoc {
  const sf = node.getSourceFile();
  const { line, column } = sf.getLineAndColumnAtPos(node.getStart());
  return { file: relFile(sf), line, col: column };
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
  return path.resolve(decl.getSourceFile().getFilePath()) === DSL_FILE ? sym.getName() : undefined;
}

/**
 * The value of a numeric literal. Not ts-morph's getLiteralValue(), which reads
 * `1.0e30` as 1; the compiler node's text is TypeScript's normalised value.
 */
export const numericValue = (node: Node): number => Number((node.compilerNode as unknown as { text: string }).text);
