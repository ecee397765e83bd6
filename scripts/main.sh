#!/usr/bin/env bash
# The main job: set-up, compile every op for both targets into generated/, then run
# every op on the software GPU (WebGPU/SwiftShader) and as emulated CUDA on the CPU.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
node bin/mimo-compile.js --target all
npx tsx examples/run-all-ops.mts
