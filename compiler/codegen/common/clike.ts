import type { Expr, Stmt } from '../../ir/nodes.js';
import type { LoweredKernel } from '../../ir/lowered.js';
import type { DType } from '../../ir/types.js';

/**
 * The spellings that differ between C-like targets. The shared renderer below walks
 * the IR; a dialect only says how each construct is written. Nothing here decides
 * anything about the program: passes already did.
 */
export interface Dialect {
  ident(name: string): string;
  literal(value: number | boolean, type: DType): string;
  declare(name: string, type: DType, mutable: boolean, init: string): string;
  localArray(name: string, type: DType, size: number): string;
  uniform(name: string): string;
  builtin(e: Extract<Expr, { k: 'builtin' }>): string;
  binary(op: string, a: string, b: string, e: Extract<Expr, { k: 'bin' }>): string;
  cast(a: string, from: DType, to: DType): string;
  bitcast(a: string, from: DType, to: DType): string;
  call(fn: string, args: string[], e: Extract<Expr, { k: 'call' }>): string;
  select(cond: string, a: string, b: string): string;
  load(e: Extract<Expr, { k: 'load' }>, index: string): string;
  loadWord(e: Extract<Expr, { k: 'loadWord' }>, index: string): string;
  store(s: Extract<Stmt, { k: 'store' }>, index: string, value: string): string;
  storePacked(s: Extract<Stmt, { k: 'storePacked' }>, word: string, shift: string, bits: string): string;
  atomic(s: Extract<Stmt, { k: 'atomic' }>, index: string, value: string): string;
  subgroup(s: Extract<Stmt, { k: 'subgroup' }>, value: string, laneMask?: string): string;
  mmaSync(s: Extract<Stmt, { k: 'mmaSync' }>, a: string[], b: string[]): string;
  ldmatrix(s: Extract<Stmt, { k: 'ldmatrix' }>, rowIndex: string): string;
  /** cp.async and its group commit / wait (CUDA copyTile lowering). */
  asyncCopy(s: Extract<Stmt, { k: 'asyncCopy' | 'asyncCommit' | 'asyncWait' }>, args: string[]): string;
  barrier(): string;
  /** Per-architecture code (CUDA: the preprocessor picks); targets without wgmma lack it. */
  archSwitch?(sm90a: string[], other: string[], ind: string): string[];
  /** sm_90a warpgroup MMA and its fences; aIndex, bIndex rendered (CUDA only). */
  wgmma?(s: Extract<Stmt, { k: 'wgmma' }>, aIndex: string, bIndex: string): string;
  wgmmaSync?(s: Extract<Stmt, { k: 'wgmmaSync' }>): string;
  /** A loop with a single counter declaration and update, when the target has one. */
  forLoop(init: string, cond: string, update: string): string | undefined;
  /** The general loop: `continuing` runs before every next iteration, also after `continue`. */
  loop(init: string[], cond: string, update: string[], body: string[], indent: string): string[];
  /** Assignment as a statement (no trailing semicolon differences between targets). */
  assign(name: string, value: string): string;
}

export class CLikeRenderer {
  constructor(private readonly d: Dialect, private readonly k: LoweredKernel) {}

  expr(e: Expr): string {
    const d = this.d;
    switch (e.k) {
      case 'const': return d.literal(e.value, e.type);
      case 'var': return d.ident(e.name);
      case 'uniform': return d.uniform(e.name);
      case 'sym': throw new Error(`unspecialised symbol ${e.name} reached the ${this.k.name} renderer`);
      case 'builtin': return d.builtin(e);
      case 'bin': return d.binary(e.op, this.expr(e.a), this.expr(e.b), e);
      case 'un': return `${e.op}(${this.expr(e.a)})`;
      case 'cast': return d.cast(this.expr(e.a), e.a.type, e.type);
      case 'bitcast': return d.bitcast(this.expr(e.a), e.a.type, e.type);
      case 'call': return d.call(e.fn, e.args.map((a) => this.expr(a)), e);
      case 'select': return d.select(this.expr(e.cond), this.expr(e.a), this.expr(e.b));
      case 'load': return d.load(e, this.expr(e.index));
      case 'loadWord': return d.loadWord(e, this.expr(e.index));
      case 'fragmentCoord': throw new Error(`a fragment coordinate reached the ${this.k.name} renderer; lowerTileOps must run first`);
    }
  }

  block(stmts: readonly Stmt[], indent: string): string[] {
    return stmts.flatMap((s) => this.stmt(s, indent));
  }

  /** A dialect hook that only some targets have (WGSL lowering never produces these statements). */
  private arch<F>(f: F | undefined, what: string): F {
    if (!f) throw new Error(`'${what}' reached the renderer of ${this.k.name} for a target without it; passes/wgmmaTile.ts runs for CUDA only`);
    return f;
  }

  private inline(s: Stmt): string {
    const [line] = this.stmt(s, '');
    return line.replace(/;$/, '');
  }

  stmt(s: Stmt, ind: string): string[] {
    const d = this.d;
    const inner = ind + '  ';
    switch (s.k) {
      case 'let': return [ind + d.declare(s.name, s.type, s.mutable, this.expr(s.init))];
      case 'assign': return [ind + d.assign(d.ident(s.name), this.expr(s.value))];
      case 'store': return [ind + d.store(s, this.expr(s.index), this.expr(s.value))];
      case 'storePacked': return [ind + d.storePacked(s, this.expr(s.word), this.expr(s.shift), this.expr(s.bits))];
      case 'if': {
        const out = [`${ind}if (${this.expr(s.cond)}) {`, ...this.block(s.then, inner)];
        if (s.else.length) out.push(`${ind}} else {`, ...this.block(s.else, inner));
        out.push(`${ind}}`);
        return out;
      }
      case 'for': {
        const simple = s.init.length === 1 && s.update.length === 1 ? d.forLoop(this.inline(s.init[0]), this.expr(s.cond), this.inline(s.update[0])) : undefined;
        if (simple) return [`${ind}${simple} {`, ...this.block(s.body, inner), `${ind}}`];
        return d.loop(this.block(s.init, inner), this.expr(s.cond), this.block(s.update, inner + '  '), this.block(s.body, inner), ind);
      }
      case 'break': return [`${ind}break;`];
      case 'continue': return [`${ind}continue;`];
      case 'return': return [`${ind}return;`];
      case 'barrier': return [ind + d.barrier()];
      case 'localArray': return [ind + d.localArray(s.name, s.type, this.k.facts.localSizes.get(s.name)!)];
      case 'atomic': return [ind + d.atomic(s, this.expr(s.index), this.expr(s.value))];
      case 'subgroup': return [ind + d.subgroup(s, this.expr(s.value), s.laneMask && this.expr(s.laneMask))];
      case 'mmaSync': return [ind + d.mmaSync(s, s.a.map((x) => this.expr(x)), s.b.map((x) => this.expr(x)))];
      case 'ldmatrix': return [ind + d.ldmatrix(s, this.expr(s.rowIndex))];
      case 'asyncCopy': return [ind + d.asyncCopy(s, [s.dstIndex, s.srcIndex, s.srcBytes].map((x) => this.expr(x)))];
      case 'asyncCommit': case 'asyncWait': return [ind + d.asyncCopy(s, [])];
      case 'archSwitch': return this.arch(d.archSwitch, s.k).call(d, this.block(s.sm90a, inner), this.block(s.other, inner), ind);
      case 'wgmma': return [ind + this.arch(d.wgmma, s.k).call(d, s, this.expr(s.a.index), this.expr(s.b.index))];
      case 'wgmmaSync': return [ind + this.arch(d.wgmmaSync, s.k).call(d, s)];
      case 'tileCopy': throw new Error(`copyTile into '${s.dst}' reached the renderer of ${this.k.name}; lowerTileCopies must run first`);
      case 'pipelined': throw new Error(`a pipelined loop reached the renderer of ${this.k.name}; lowerSoftwarePipelines must run first`);
      case 'fragment': case 'mma': case 'fragmentStore': case 'fragmentAccumulate': case 'fragmentOperand': case 'mmaFragment':
        throw new Error(`tile op '${s.k}' reached the renderer of ${this.k.name}; lowerTileOps must run first`);
      case 'blockAcc': case 'blockMma': case 'blockStore': case 'blockAccumulate': case 'blockStoreGlobal': case 'blockMap':
        throw new Error(`block tile op '${s.k}' reached the renderer of ${this.k.name}; lowerBlockTiles must run first`);
    }
  }
}

/** Decimal text that parses back to exactly this f32, or undefined when none is safe. */
export function f32Decimal(v: number): string | undefined {
  if (!Number.isFinite(v) || Math.abs(v) > 1e37) return undefined;
  for (let p = 1; p <= 9; p++) {
    const s = Math.fround(v).toPrecision(p);
    if (Math.fround(Number(s)) === Math.fround(v)) return s.includes('.') || s.includes('e') ? s : `${s}.0`;
  }
  return undefined;
}
