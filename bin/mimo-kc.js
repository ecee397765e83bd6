#!/usr/bin/env node
// `mimo-kc <command>`: the package's set-up commands (the compiler and model tools have
// their own binaries: mimo-compile, mimo-autotune, mimo-init, mimo-plan, mimo-generate).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const HELP = `mimo-kc — set-up commands

Usage: mimo-kc <command>

  setup-swiftshader   install SwiftShader, the CPU Vulkan driver WebGPU runs on without a GPU
                      (Debian/Ubuntu: apt-get, as root or with sudo). Into $MIMO_SWIFTSHADER_DIR,
                      else a clone's .cache/swiftshader, else ~/.cache/mimo-kc/swiftshader.
  -h, --help          show this help

Tools: mimo-compile, mimo-autotune, mimo-init, mimo-plan, mimo-generate (each has --help).`;

const [cmd, ...rest] = process.argv.slice(2);
if (cmd === undefined || cmd === '-h' || cmd === '--help') {
  console.log(HELP);
  process.exitCode = cmd === undefined ? 2 : 0;
} else if (cmd === 'setup-swiftshader') {
  if (rest.length) {
    console.error(`mimo-kc setup-swiftshader: unexpected argument '${rest[0]}' (it takes none)`);
    process.exitCode = 2;
  } else {
    const script = fileURLToPath(new URL('../scripts/setup-swiftshader.sh', import.meta.url));
    const r = spawnSync('bash', [script], { stdio: 'inherit' });
    process.exitCode = r.error ? (console.error(`mimo-kc setup-swiftshader: cannot run bash: ${r.error.message}`), 1) : (r.status ?? 1);
  }
} else {
  console.error(`mimo-kc: unknown command '${cmd}' (expected: setup-swiftshader; see mimo-kc --help)`);
  process.exitCode = 2;
}
