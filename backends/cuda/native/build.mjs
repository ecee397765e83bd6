#!/usr/bin/env node
// Builds the CUDA driver addon (build/Release/mimo_cuda.node) with node-gyp, offline against
// the running Node's own headers. Needs only a C++ compiler: no CUDA toolkit, no driver.
// Skips the build when the sources, Node and node-addon-api are those of the last one, so
// scripts/setup.sh can run it every time. Exit codes: 0 built or up to date, 1 failed.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = path.dirname(fileURLToPath(import.meta.url));
const addon = path.join(dir, 'build/Release/mimo_cuda.node');
const stamp = path.join(dir, 'build/mimo-source-hash');
const fail = (msg) => {
  process.stderr.write(`backends/cuda/native/build.mjs: ${msg}\n`);
  process.exit(1);
};

const require = createRequire(import.meta.url);
let addonApi;
try {
  addonApi = require.resolve('node-addon-api/package.json');
} catch {
  fail('node-addon-api is not installed (run npm ci in the repository root)');
}

const hash = createHash('sha256').update(`${process.version} ${process.versions.modules} ${process.arch}\n`);
hash.update(fs.readFileSync(addonApi));
for (const f of fs.readdirSync(dir).filter((f) => /\.(cc|h|gyp)$/.test(f)).sort()) hash.update(f).update(fs.readFileSync(path.join(dir, f)));
const want = hash.digest('hex');
if (fs.existsSync(addon) && fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === want) process.exit(0);

// npm ships node-gyp; npm sets npm_config_node_gyp when it runs a script.
const prefix = path.resolve(path.dirname(process.execPath), '..');
const candidates = [process.env.npm_config_node_gyp, path.join(prefix, 'lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js')].filter(Boolean);
const gyp = candidates.find((p) => fs.existsSync(p));
if (!gyp) fail(`node-gyp was not found (npm ships it; looked for ${candidates.join(', ')})`);
// The headers of the running Node, where its installation has them (official builds and
// distributions' -dev packages do); otherwise node-gyp downloads them.
const nodedir = fs.existsSync(path.join(prefix, 'include/node/node_api.h')) ? [`--nodedir=${prefix}`] : [];

const r = spawnSync(process.execPath, [gyp, 'rebuild', `--directory=${dir}`, ...nodedir, '--loglevel=warn'], { encoding: 'utf8' });
if (r.error) fail(`could not run node-gyp (${gyp}): ${r.error.message}`);
if (r.status !== 0) fail(`node-gyp rebuild failed (exit ${r.status}):\n${r.stdout}${r.stderr}`);
fs.writeFileSync(stamp, want);
