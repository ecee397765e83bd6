/**
 * Child process of the layering test: imports each module named on the command line, in
 * order, and prints one JSON line mapping each to the TypeScript-compiler files (ts-morph,
 * typescript) that loading it added. Both are CommonJS, so Node's require cache sees
 * them however they were reached.
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const cache = createRequire(import.meta.url).cache;
const compilerFiles = () => Object.keys(cache).filter((f) => /[\\/]node_modules[\\/](typescript|ts-morph|@ts-morph[\\/]common)[\\/]/.test(f));

const added: Record<string, string[]> = {};
for (const m of process.argv.slice(2)) {
  const before = new Set(compilerFiles());
  await import(pathToFileURL(m).href);
  added[m] = compilerFiles().filter((f) => !before.has(f));
}
console.log(JSON.stringify(added));
