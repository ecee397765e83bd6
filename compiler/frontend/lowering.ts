import type { Node } from 'ts-morph';
import type { DType } from '../ir/types.js';
import type { Expr, SharedArray, SizeExpr, Stmt, TensorParam } from '../ir/nodes.js';
import type { KernelDeclaration } from './declaration.js';
import { CompileError } from './errors.js';
import { errorAt, locOf } from './source.js';

/** What a name in kernel scope refers to. */
export type Binding =
  | { readonly kind: 'var'; readonly name: string; readonly type: DType; readonly mutable: boolean }
  | { readonly kind: 'tensor'; readonly param: TensorParam }
  | { readonly kind: 'shared'; readonly name: string; readonly dtype: DType }
  | { readonly kind: 'local'; readonly name: string; readonly dtype: DType }
  | { readonly kind: 'fragment'; readonly name: string }
  | { readonly kind: 'ctx' }
  | { readonly kind: 'ctxMember'; readonly name: string };

/**
 * A lowered value. Numeric literals stay "abstract" (like WGSL's abstract int/float)
 * until they meet a typed operand, so `x * 2` works for any numeric x while `bf16 + f32`
 * is still an error.
 */
export interface Val {
  readonly e: Expr;
  readonly abstract?: 'int' | 'float';
}

/** Mutable state of lowering one kernel body: statement buffers, scopes and names. */
export class Lowerer {
  private out: Stmt[] = [];
  private scopes: Map<string, Binding>[] = [new Map()];
  private readonly used = new Set<string>();
  readonly shared: SharedArray[] = [];
  readonly inlineStack: string[] = [];
  loopDepth = 0;

  constructor(readonly decl: KernelDeclaration) {
    for (const t of decl.tensors) {
      this.used.add(t.name);
      this.bind(t.name, { kind: 'tensor', param: t });
    }
    for (const n of decl.ctxKinds.keys()) this.used.add(n);
    if (decl.ctxParam) this.bind(decl.ctxParam, { kind: 'ctx' });
    else for (const n of decl.ctxKinds.keys()) this.bind(n, { kind: 'ctxMember', name: n });
  }

  error(node: Node, detail: string, hint?: string): CompileError {
    const e = errorAt(node, detail, hint);
    return new CompileError(e.detail, e.loc, e.snippet, e.hint, this.decl.name);
  }

  emit(s: Stmt): void {
    this.out.push(s);
  }

  /** Runs `fn` with a fresh statement buffer and scope; returns the statements it emitted. */
  block(fn: () => void): Stmt[] {
    const saved = this.out;
    this.out = [];
    this.scopes.push(new Map());
    try {
      fn();
      return this.out;
    } finally {
      this.out = saved;
      this.scopes.pop();
    }
  }

  /**
   * Runs `fn` with only a fresh scope visible and no enclosing loop: an inlined helper
   * sees its parameters and nothing of its caller (no accidental capture, no `break`
   * out of the caller's loop).
   */
  isolated<T>(fn: () => T): T {
    const [scopes, depth] = [this.scopes, this.loopDepth];
    this.scopes = [new Map()];
    this.loopDepth = 0;
    try {
      return fn();
    } finally {
      this.scopes = scopes;
      this.loopDepth = depth;
    }
  }

  /** Statements emitted by `fn`, in the current scope. */
  collect(fn: () => void): Stmt[] {
    return this.capture(() => {
      fn();
      return { e: { k: 'const', type: 'bool', value: true } };
    }).stmts;
  }

  /** Like block() but keeps the current scope (the pre-statements of an expression). */
  capture(fn: () => Val): { stmts: Stmt[]; val: Val } {
    const saved = this.out;
    this.out = [];
    try {
      const val = fn();
      return { stmts: this.out, val };
    } finally {
      this.out = saved;
    }
  }

  bind(name: string, b: Binding): void {
    this.scopes[this.scopes.length - 1].set(name, b);
  }

  lookup(name: string): Binding | undefined {
    for (let i = this.scopes.length - 1; i >= 0; i--) {
      const b = this.scopes[i].get(name);
      if (b) return b;
    }
    return undefined;
  }

  /** A kernel-unique IR name close to the source name. */
  fresh(base: string): string {
    let name = base;
    for (let i = 1; this.used.has(name); i++) name = `${base}_${i}`;
    this.used.add(name);
    return name;
  }

  /** Declares an immutable temporary holding `v` and returns a reference to it. */
  temp(base: string, v: Expr, node: Node): Expr {
    const name = this.fresh(base);
    this.emit({ k: 'let', name, type: v.type, init: v, mutable: false, loc: locOf(node) });
    return { k: 'var', name, type: v.type, loc: v.loc };
  }

  addShared(node: Node, base: string, dtype: DType, size: SizeExpr): string {
    const name = this.fresh(base);
    this.shared.push({ name, dtype, size, loc: locOf(node) });
    return name;
  }
}
