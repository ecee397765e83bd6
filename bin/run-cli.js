// Starts a CLI from its built JavaScript (dist/, what the published package ships) or,
// in a clone without a build, from its TypeScript source through tsx (a devDependency).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export async function runCli(module) {
  const built = new URL(`../dist/${module}.js`, import.meta.url);
  if (existsSync(fileURLToPath(built))) return import(built.href);
  const { register } = await import('tsx/esm/api');
  register();
  return import(new URL(`../${module}.ts`, import.meta.url).href);
}
