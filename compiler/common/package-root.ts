import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The folder of mimo-kc's package.json, found by walking up from this module: the same
 * answer from the TypeScript sources (compiler/) and from the built JavaScript
 * (dist/compiler/), in a clone or inside a consumer's node_modules. The package's own
 * assets (ops/, backends/cuda/include/, tuning/) are read from here.
 */
function findPackageRoot(): string {
  const start = path.dirname(fileURLToPath(import.meta.url));
  for (let dir = start; ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, 'package.json');
    if (fs.existsSync(manifest)) {
      try {
        if ((JSON.parse(fs.readFileSync(manifest, 'utf8')) as { name?: string }).name === 'mimo-kc') return dir;
      } catch {
        // Not a readable package.json: keep walking, as Node's own resolution does.
      }
    }
    if (path.dirname(dir) === dir) throw new Error(`mimo-kc: cannot find the package's package.json above ${start}`);
  }
}

export const PACKAGE_ROOT = findPackageRoot();
