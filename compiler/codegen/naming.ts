import { createHash } from 'node:crypto';
import type { KernelBase } from '../ir/nodes.js';
import { forEachStmt } from '../ir/walk.js';
import { PRELUDE_GLOBALS } from './cuda/prelude-globals.js';

/**
 * What a target forbids as an identifier: whole words (a keyword, a macro, a name the
 * generated code itself uses) and prefixes of whole families (our mimo_ helpers, CUDA's
 * cuda* macros), which a counter suffix cannot leave.
 */
export interface TargetReserved {
  word(name: string): boolean;
  prefix(name: string): boolean;
}

/**
 * The rendered identifier of every name in one lowered kernel. Buffers (tensors, shared
 * and local arrays) and values (locals, runtime scalars) are separate IR namespaces (a
 * tensor may be named like its own shape symbol) that share the target's one namespace.
 * The IR keeps the user's names: the manifest and the runtimes address tensors by them.
 */
export interface Names {
  buffer(irName: string): string;
  value(irName: string): string;
}

/**
 * The naming pass: every identifier becomes ASCII [A-Za-z0-9_] without a leading or
 * doubled underscore (reserved in C++; `_` and `__x` are invalid in WGSL) and without a
 * reserved word of the target. Names that already qualify keep their spelling; the others
 * take the first free `stem_N`, checked against every final name, so `loop` (a WGSL
 * keyword) and a user's `loop_` stay two variables. Passes that invent names put a `.` in
 * them, which no DSL identifier contains, so theirs never equal a user's before this pass.
 */
export function nameIdentifiers(k: KernelBase & { readonly shared: readonly { readonly name: string }[] }, reserved: TargetReserved): Names {
  const order: [ns: 'b' | 'v', name: string][] = [
    ...k.tensors.map((t) => ['b', t.name] as ['b', string]),
    ...k.scalars.map((s) => ['v', s.name] as ['v', string]),
    ...k.shared.map((s) => ['b', s.name] as ['b', string]),
  ];
  forEachStmt(k.body, (s) => {
    if (s.k === 'let') order.push(['v', s.name]);
    if (s.k === 'localArray') order.push(['b', s.name]);
    if ((s.k === 'atomic' && s.result) || s.k === 'subgroup') order.push(['v', s.result!]);
    if (s.k === 'ldmatrix') for (const r of s.results) order.push(['v', r]);
  });
  const taken = new Set<string>();
  const out = new Map<string, string>();
  const pending: [string, string][] = [];
  const bad = (n: string) => reserved.word(n) || reserved.prefix(n) || taken.has(n);
  for (const [ns, name] of order) {
    const key = `${ns}:${name}`;
    if (out.has(key)) continue;
    if (identifierStem(name) === name && !bad(name)) {
      out.set(key, name);
      taken.add(name);
    } else pending.push([key, name]);
  }
  for (const [key, name] of pending) {
    let stem = identifierStem(name);
    if (reserved.prefix(stem)) stem = `v_${stem}`;
    let chosen = stem;
    for (let i = 1; bad(chosen); i++) chosen = `${stem.replace(/_+$/, '')}_${i}`;
    out.set(key, chosen);
    taken.add(chosen);
  }
  const lookup = (ns: string, what: string) => (name: string): string => {
    const r = out.get(`${ns}:${name}`);
    if (r === undefined) throw new Error(`naming: kernel ${k.name} refers to ${what} '${name}', which nothing in it declares`);
    return r;
  };
  return { buffer: lookup('b', 'buffer'), value: lookup('v', 'value') };
}

/** Kernel names longer than this become a prefix plus a hash (file names have a 255-byte limit, symbols get long). */
export const MAX_KERNEL_NAME = 64;

/**
 * The file and symbol base of a kernel (`<base>.wgsl`, `mimo_<base>` and `mimo_<base>_kernel`),
 * deterministic and the same on both targets. A name that is plain ASCII, short, and cannot
 * collide with another kernel's symbols (`x_kernel`'s launcher would be `x`'s kernel) or the
 * prelude's (`pack2`) is kept; any other becomes its ASCII stem, cut, plus 8 hex digits of
 * its SHA-256, so two names that share a stem still differ. The manifest keys on the original.
 */
export function kernelBaseName(name: string): string {
  const plain = /^[A-Za-z][A-Za-z0-9]*(_[A-Za-z0-9]+)*$/.test(name) && name.length <= MAX_KERNEL_NAME && !name.endsWith('_kernel') &&
    !PRELUDE_GLOBALS.has(`mimo_${name}`) && !PRELUDE_GLOBALS.has(`mimo_${name}_kernel`);
  if (plain) return name;
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 8);
  return `${identifierStem(name).slice(0, MAX_KERNEL_NAME - hash.length - 1).replace(/_+$/, '')}_${hash}`;
}

/**
 * ASCII spelling of a name: `$` becomes S, the `.` of pass-made names _, any other
 * character u<hex code point>; runs of underscores collapse and leading ones go; a name
 * left empty or starting with a digit gets a `v` in front.
 */
function identifierStem(name: string): string {
  let s = '';
  for (const ch of name) s += /[A-Za-z0-9_]/.test(ch) ? ch : ch === '$' ? 'S' : ch === '.' ? '_' : `u${ch.codePointAt(0)!.toString(16)}`;
  s = s.replace(/_{2,}/g, '_').replace(/^_+/, '');
  return !s || /^[0-9]/.test(s) ? `v${s}` : s;
}
