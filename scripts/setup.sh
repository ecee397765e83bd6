#!/usr/bin/env bash
# Everything a fresh clone needs: npm packages (from the lock file), SwiftShader, the CPU
# Vulkan driver that WebGPU runs on when the machine has no GPU, and nvdisasm, without
# which mimo-report's SASS checks in the suite (tensor-core instructions present, no
# emulated FP8 MMA) would be skipped. Idempotent.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
stamp=node_modules/.mimo-lock-hash
want="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
fi
bash scripts/setup-swiftshader.sh >&2
bash scripts/setup-cuda-tools.sh >&2
command -v g++ >/dev/null || { echo "setup: g++ is required to run generated CUDA on the CPU" >&2; exit 1; }
# The CUDA driver addon (backends/cuda/runtime.ts): needs only g++ and Node's headers, loads
# libcuda.so.1 when first used; a no-op when it is up to date.
node backends/cuda/native/build.mjs
