import type { CallExpression, Node } from 'ts-morph';
import type { DType } from '../ir/types.js';
import type { Expr, IndexBound, SharedArray, SizeExpr, Space, Stmt } from '../ir/nodes.js';
import type { KernelDeclaration } from './declaration.js';
import { CompileError } from '../common/errors.js';
import { errorAt, locOf } from './source.js';

/** One dimension of a buffer as the kernel sees it: its extent as an i32 expression, and its source text for messages. */
export interface Extent {
  readonly e: Expr;
  readonly text: string;
}

/**
 * A tensor, shared or local array, or a view of one after some of its indices: `q`, `q[t]`,
 * `Qs[r]`, `x.flat`. `offset` is the row-major offset of the view in units of its first
 * remaining dimension (Horner form: indexing i gives offset * dims[0] + i), undefined for a
 * whole buffer; `bounds` are the indices applied so far, for the interpreter's checks.
 */
export interface BufferRef {
  readonly kind: 'buffer';
  readonly space: Space;
  readonly buf: string;
  /** The source name of the whole buffer, for messages. */
  readonly label: string;
  readonly dtype: DType;
  readonly writable: boolean;
  readonly dims: readonly Extent[];
  readonly offset?: Expr;
  readonly bounds: readonly IndexBound[];
}

/** What a name in kernel scope refers to. */
export type Binding =
  | { readonly kind: 'var'; readonly name: string; readonly type: DType; readonly mutable: boolean }
  /** A compile-time value a helper was given (a literal, a tunable): substituted, so it can size shared arrays. */
  | { readonly kind: 'value'; readonly e: Expr }
  | BufferRef
  | { readonly kind: 'fragment'; readonly name: string }
  | { readonly kind: 'blockAcc'; readonly name: string }
  /** dsl RowVector (2 f32 per thread, frontend/fragmentCalls.ts) and a register A operand (toOperand). */
  | { readonly kind: 'rowVector'; readonly name: string }
  | { readonly kind: 'operand'; readonly name: string; readonly dtype: 'bf16' | 'f16' }
  /** Named members passed as one value: a helper's object argument, a workspace a helper returns. */
  | { readonly kind: 'group'; readonly members: ReadonlyMap<string, Binding> }
  | { readonly kind: 'ctx' }
  | { readonly kind: 'ctxMember'; readonly name: string };

/** How the lowering functions reach each other (wired in frontend/index.ts), so the modules import one way. */
export interface LowerFns {
  readonly expr: (L: Lowerer, node: Node) => Val;
  /** A call used as a value (`valueUsed`) or as a statement. */
  readonly call: (L: Lowerer, node: CallExpression, valueUsed: boolean) => Val;
  readonly statements: (L: Lowerer, stmts: Node[], helper?: string) => void;
}

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

  constructor(readonly decl: KernelDeclaration, readonly fns: LowerFns, tensorRef: (t: KernelDeclaration['tensors'][number]) => BufferRef) {
    for (const t of decl.tensors) {
      this.used.add(t.name);
      this.bind(t.name, tensorRef(t));
    }
    for (const n of decl.ctxKinds.keys()) this.used.add(n);
    if (decl.ctxParam) this.bind(decl.ctxParam, { kind: 'ctx' });
    else for (const n of decl.ctxKinds.keys()) this.bind(n, { kind: 'ctxMember', name: n });
  }

  expr(node: Node): Val {
    return this.fns.expr(this, node);
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
