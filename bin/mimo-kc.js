#!/usr/bin/env node
// `mimo-kc <command>`: the package's set-up commands (the compiler and model tools have
// their own binaries: mimo-compile, mimo-autotune, mimo-report, mimo-init, mimo-plan, mimo-generate).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const HELP = `mimo-kc — set-up commands

Usage: mimo-kc <command>

  setup-swiftshader   install SwiftShader, the CPU Vulkan driver WebGPU runs on without a GPU
                      (Debian/Ubuntu: apt-get, as root or with sudo). Into $MIMO_SWIFTSHADER_DIR,
                      else a clone's .cache/swiftshader, else ~/.cache/mimo-kc/swiftshader.
  setup-cuda-tools    fetch nvdisasm and cuobjdump (Debian trixie's nvidia-cuda-toolkit, unpacked,
                      nothing installed system-wide) for mimo-report's SASS instruction mix. Into
                      $MIMO_CUDA_TOOLS_DIR, else a clone's .cache/cuda-tools, else ~/.cache/mimo-kc/cuda-tools.
  -h, --help          show this help

Tools: mimo-compile, mimo-autotune, mimo-report, mimo-init, mimo-plan, mimo-generate (each has --help).`;

/** Each command runs one script of the package, with no arguments. */
const SCRIPTS = { 'setup-swiftshader': 'setup-swiftshader.sh', 'setup-cuda-tools': 'setup-cuda-tools.sh' };

const [cmd, ...rest] = process.argv.slice(2);
if (cmd === undefined || cmd === '-h' || cmd === '--help') {
  console.log(HELP);
  process.exitCode = cmd === undefined ? 2 : 0;
} else if (Object.hasOwn(SCRIPTS, cmd)) {
  if (rest.length) {
    console.error(`mimo-kc ${cmd}: unexpected argument '${rest[0]}' (it takes none)`);
    process.exitCode = 2;
  } else {
    const script = fileURLToPath(new URL(`../scripts/${SCRIPTS[cmd]}`, import.meta.url));
    const r = spawnSync('bash', [script], { stdio: 'inherit' });
    process.exitCode = r.error ? (console.error(`mimo-kc ${cmd}: cannot run bash: ${r.error.message}`), 1) : (r.status ?? 1);
  }
} else {
  console.error(`mimo-kc: unknown command '${cmd}' (expected: ${Object.keys(SCRIPTS).join(', ')}; see mimo-kc --help)`);
  process.exitCode = 2;
}
