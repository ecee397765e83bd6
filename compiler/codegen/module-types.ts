/**
 * TypeScript declarations of generated/wgsl/kernels.js. The manifest is declared as its
 * exact literal type (kernel names, binding and scalar names, dtypes), so that a consumer
 * who passes a wrong kernel name, forgets a tensor or gives a Float32Array for a bf16
 * binding gets a type error in the editor (WebGpuRuntime's methods are typed from it).
 */
export function wgslModuleTypes(header: string, manifest: unknown, kernelNames: readonly string[]): string {
  return [
    header,
    `export declare const manifest: ${literalType(manifest, '')};`,
    `export declare const sources: { ${kernelNames.map((n) => `readonly ${key(n)}: string;`).join(' ')} };`,
    '',
  ].join('\n');
}

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const key = (k: string) => (IDENT.test(k) ? k : JSON.stringify(k));

/** Objects of kernels and the top level one key per line; everything inside an entry's fields on one line. */
function literalType(v: unknown, indent: string): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return `readonly [${v.map((x) => literalType(x, indent)).join(', ')}]`;
  if (typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>);
    const multiline = indent.length < 4;
    if (!multiline) return `{ ${entries.map(([k, x]) => `readonly ${key(k)}: ${literalType(x, indent)};`).join(' ')} }`;
    const inner = indent + '  ';
    return `{\n${entries.map(([k, x]) => `${inner}readonly ${key(k)}: ${literalType(x, inner)};`).join('\n')}\n${indent}}`;
  }
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return JSON.stringify(v);
  throw new Error(`wgslModuleTypes: cannot declare a ${typeof v} in the manifest`);
}
