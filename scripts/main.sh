#!/usr/bin/env bash
# The main job: set-up, compile every op for both targets into generated/, run every op on
# the software GPU (WebGPU/SwiftShader) and as emulated CUDA on the CPU, then write a tiny
# random checkpoint and generate from it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
node bin/mimo-compile.js --target all
npx tsx examples/run-all-ops.mts
tiny="$(mktemp -d)"
trap 'rm -rf "$tiny"' EXIT
node bin/mimo-init.js --preset tiny --out "$tiny" --seed 0
node bin/mimo-generate.js --model "$tiny" --prompt 'Hello, MiMo' --max-new 16
