/**
 * The import graph of the repository's own modules and the two rules the layering test
 * holds it to: no cycles, and no import from a lower layer to a higher one. Imports are
 * read with regular expressions, not the TypeScript parser, so the test stays fast and
 * does not itself depend on what it checks.
 */
import fs from 'node:fs';
import path from 'node:path';

/** One import: the importing and imported files (repository-relative, `.ts`), and whether only types cross it. */
export interface ImportEdge {
  readonly from: string;
  readonly to: string;
  readonly typeOnly: boolean;
}

export type ImportGraph = ReadonlyMap<string, readonly ImportEdge[]>;

// Static `import ... from '...'`, side-effect `import '...'`, `export ... from '...'`,
// and dynamic `import('...')`. Comments mentioning `import(` are rare enough to accept
// a false edge over a missed one.
const STATIC = /^\s*(import|export)\s+(type\s+)?(?:[^'";]*?\bfrom\s*)?['"]([^'"]+)['"]/gm;
const DYNAMIC = /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;

/** The relative imports of one source text, as written. */
export function importsOf(source: string): { spec: string; typeOnly: boolean }[] {
  const out: { spec: string; typeOnly: boolean }[] = [];
  for (const m of source.matchAll(STATIC)) {
    // `import { type A, type B }` imports only types too; `import { type A, b }` does not.
    const names = /\{([^}]*)\}/.exec(m[0])?.[1];
    const allTypes = names !== undefined && names.split(',').map((s) => s.trim()).filter(Boolean).every((s) => s.startsWith('type '));
    out.push({ spec: m[3], typeOnly: m[2] !== undefined || (allTypes && !/^\s*(import|export)\s+\w+\s*,/.test(m[0])) });
  }
  for (const m of source.matchAll(DYNAMIC)) out.push({ spec: m[1], typeOnly: false });
  return out.filter((i) => i.spec.startsWith('.'));
}

/** Every `.ts`/`.mts` file (not `.d.ts`, not tests) under `dirs`, relative to `root`. */
export function sourceFiles(root: string, dirs: readonly string[]): string[] {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) {
        if (e.name !== 'node_modules') walk(p);
      } else if (/\.m?ts$/.test(e.name) && !/\.d\.m?ts$|\.test\.ts$/.test(e.name)) files.push(path.relative(root, p).split(path.sep).join('/'));
    }
  };
  for (const d of dirs) walk(path.join(root, d));
  return files.sort();
}

/**
 * The graph of `files`: each relative import resolved to a file, `.js` standing for the
 * `.ts` beside it as NodeNext resolution has it. An import of a missing file is listed in
 * `missing`, naming both, so that the checks on the rest still run.
 */
export function buildGraph(root: string, files: readonly string[]): { graph: ImportGraph; missing: string[] } {
  const graph = new Map<string, ImportEdge[]>();
  const missing: string[] = [];
  for (const from of files) {
    const edges: ImportEdge[] = [];
    for (const { spec, typeOnly } of importsOf(fs.readFileSync(path.join(root, from), 'utf8'))) {
      const target = path.posix.normalize(path.posix.join(path.posix.dirname(from), spec));
      const to = [target.replace(/\.js$/, '.ts'), target.replace(/\.mjs$/, '.mts'), target].find((t) => fs.existsSync(path.join(root, t)));
      if (to === undefined) missing.push(`${from}: import '${spec}' resolves to ${target}, which does not exist`);
      else edges.push({ from, to, typeOnly });
    }
    graph.set(from, edges);
  }
  return { graph, missing };
}

/**
 * One cycle per set of modules that import each other (a strongly connected component,
 * by Tarjan's algorithm), as the path `a, b, ..., a`: a shortest cycle through the set's
 * first file in sorted order.
 */
export function findCycles(graph: ImportGraph): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  const visit = (v: string) => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const { to } of graph.get(v) ?? []) {
      if (!index.has(to)) {
        visit(to);
        low.set(v, Math.min(low.get(v)!, low.get(to)!));
      } else if (onStack.has(to)) low.set(v, Math.min(low.get(v)!, index.get(to)!));
    }
    if (low.get(v) === index.get(v)) {
      const c: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        c.push(w);
      } while (w !== v);
      const selfLoop = (graph.get(v) ?? []).some((e) => e.to === v);
      if (c.length > 1 || selfLoop) components.push(c);
    }
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);
  return components.map((c) => cyclePath(graph, new Set(c)));
}

function cyclePath(graph: ImportGraph, members: ReadonlySet<string>): string[] {
  const start = [...members].sort()[0];
  const prev = new Map<string, string>();
  const queue = [start];
  while (queue.length) {
    const v = queue.shift()!;
    for (const { to } of graph.get(v) ?? []) {
      if (!members.has(to)) continue;
      if (to === start) {
        const p: string[] = [];
        for (let w = v; w !== start; w = prev.get(w)!) p.unshift(w);
        return [start, ...p, start];
      }
      if (!prev.has(to)) {
        prev.set(to, v);
        queue.push(to);
      }
    }
  }
  throw new Error(`no cycle through ${start}`);
}

/** A layer: files whose path starts with one of `prefixes` (a folder `x/` or a file `x.ts`). */
export interface Layer {
  readonly name: string;
  readonly rank: number;
  readonly prefixes: readonly string[];
}

/** The layer of `file`: the one with the longest matching prefix, or undefined. */
export function layerOf(layers: readonly Layer[], file: string): Layer | undefined {
  let best: { layer: Layer; length: number } | undefined;
  for (const l of layers) for (const p of l.prefixes) if (file.startsWith(p) && (!best || p.length > best.length)) best = { layer: l, length: p.length };
  return best?.layer;
}

/**
 * Imports against the order: to a higher rank, or sideways to another layer of the same
 * rank (`sameRankAllowed` lists the ranks whose layers may import each other). A file in
 * no layer is itself a violation: a new folder must be given a rank.
 */
export function rankViolations(graph: ImportGraph, layers: readonly Layer[], sameRankAllowed: readonly number[] = []): string[] {
  const out: string[] = [];
  for (const [file, edges] of graph) {
    const a = layerOf(layers, file);
    if (!a) {
      out.push(`${file}: in no layer; give its folder a rank in test/layering.test.ts`);
      continue;
    }
    for (const e of edges) {
      const b = layerOf(layers, e.to);
      if (!b) continue; // reported as its own file, when it is one of the scanned files
      const sideways = b.rank === a.rank && b !== a && !sameRankAllowed.includes(a.rank);
      if (b.rank > a.rank || sideways) out.push(`${file} (${a.name}, rank ${a.rank}) imports ${e.to} (${b.name}, rank ${b.rank})${e.typeOnly ? ' [types only]' : ''}`);
    }
  }
  return out.sort();
}
