import { Node, type Diagnostic, type SourceFile } from 'ts-morph';
import type { Kernel } from '../ir/nodes.js';
import { CompileError, CompileErrors } from '../common/errors.js';
import { findKernels } from './declaration.js';
import { Lowerer, type LowerFns } from './lowering.js';
import { lowerStatements } from './lowerStmt.js';
import { lowerExpr } from './lowerExpr.js';
import { lowerCall } from './lowerCall.js';
import { tensorRef } from './refs.js';

/** The lowering functions reach each other through the Lowerer, so lowerExpr, lowerCall and lowerStmt import one way. */
const FNS: LowerFns = { expr: lowerExpr, call: lowerCall, statements: lowerStatements };
import { checkNesting } from './nesting.js';
import { getProject, loadSource, loadSourceText, locAtPos, locOf, relFile } from './source.js';

/** Parses and lowers every kernel declared in a TypeScript file. */
export function lowerFile(file: string): Kernel[] {
  return lowerSourceFile(loadSource(file));
}

/** Same, for source text (used by tests of malformed kernels). */
export function lowerText(file: string, text: string): Kernel[] {
  return lowerSourceFile(loadSourceText(file, text));
}

function lowerSourceFile(sf: SourceFile): Kernel[] {
  // Lowering a file that does not parse only produces confusing follow-up errors.
  const syntax = getProject().getProgram().getSyntacticDiagnostics(sf);
  if (syntax.length) throw new CompileErrors(syntax.map((d) => diagnosticError(sf, d)));
  checkNesting(sf);
  try {
    return lowerChecked(sf);
  } catch (e) {
    // checkNesting bounds what our code recurses on; this is the backstop for the rest
    // (TypeScript's checker, ts-morph), so that no input ends in a stack trace.
    if (e instanceof RangeError && /call stack/i.test(e.message)) {
      throw new CompileError(`compiling ${relFile(sf)} exhausted the stack (${e.message})`, { file: relFile(sf), line: 1, col: 1 }, undefined, 'split very long expressions or deeply nested code into smaller statements');
    }
    throw e;
  }
}

function lowerChecked(sf: SourceFile): Kernel[] {
  const kernels: Kernel[] = [];
  const errors: CompileError[] = [];
  const collect = (e: unknown) => {
    if (e instanceof CompileError) errors.push(e);
    else if (e instanceof CompileErrors) errors.push(...e.errors);
    else throw e;
  };
  try {
    for (const decl of findKernels(sf)) {
      try {
        const L = new Lowerer(decl, FNS, (t) => tensorRef(decl, t));
        const body = decl.body.getBody();
        const stmts = L.block(() => {
          if (Node.isBlock(body)) lowerStatements(L, body.getStatements());
          else throw L.error(body, 'a kernel body must be a block { ... }');
        });
        kernels.push({
          name: decl.name, doc: decl.doc, file: relFile(sf), loc: locOf(decl.call),
          tensors: decl.tensors, scalars: decl.scalars, tunables: decl.tunables, constraints: decl.constraints, requires: decl.requires,
          consts: decl.consts, workgroup: decl.workgroup, grid: decl.grid, shared: L.shared, body: stmts,
          ...(decl.minBlocksPerSM ? { minBlocksPerSM: decl.minBlocksPerSM } : {}),
        });
      } catch (e) {
        collect(e);
      }
    }
  } catch (e) {
    collect(e);
  }
  // TypeScript's own errors (a bf16 stored into an f32 tensor, a typo) are kernel errors too;
  // ours come first because they carry DSL-specific hints.
  for (const d of sf.getPreEmitDiagnostics()) {
    if (d.getCategory() !== 1) continue;
    const e = diagnosticError(sf, d);
    if (!errors.some((x) => x.loc?.file === e.loc?.file && x.loc?.line === e.loc?.line)) errors.push(e);
  }
  if (errors.length) throw new CompileErrors(errors);
  return kernels;
}

function diagnosticError(sf: SourceFile, d: Diagnostic): CompileError {
  const start = d.getStart() ?? 0;
  const msg = d.getMessageText();
  const text = typeof msg === 'string' ? msg : msg.getMessageText();
  const snippet = sf.getFullText().slice(start, start + (d.getLength() ?? 0));
  return new CompileError(`TypeScript: ${text}`, locAtPos(sf, start), snippet);
}
