#!/usr/bin/env bash
# The H200 check: the one command the device tool runs (bench/device/README.md has the exact
# `run` call). Planned under 8 minutes there:
#   1. the GPU's facts (nvidia-smi, nvcc)
#   2. check.py: build the torch ops (nvcc, sm_90a), correctness of every kernel against
#      PyTorch, the peers table (OUT/h200-table.md)
#   3. mimo-autotune --target cuda --preset mimo-v2-flash into OUT/tuning/, with the node and
#      compiled CLI that bench/device/prepare.sh put in bench/device/carry/ (that machine has
#      no Node); skipped, with the reason, when the carry is missing
# Exit status: check.py's (0 pass, 1 a correctness FAIL, 2 a peers row failed); the autotune
# phase never changes it, its outcome is printed.
#
#   bash bench/device/h200-check.sh [--dry-run]
# --dry-run: here, without a GPU: check.py on the CPU (the CUDA emulator, tiny shapes), and the
# autotune phase up to the GPU check, which must then report that there is no CUDA device.
set -uo pipefail
cd "$(dirname "$0")/../.."

DRY=""
case "${1:-}" in
  "") ;;
  --dry-run) DRY=--dry-run ;;
  *) echo "h200-check.sh: unknown argument '$1' (expected nothing or --dry-run)" >&2; exit 3 ;;
esac
OUT=${OUT:-bench/device/out}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
CARRY=bench/device/carry
# Seconds: autotune stops starting measurements after AUTOTUNE_BUDGET; the hard stop leaves
# time for the winner's re-measurement and the database write.
AUTOTUNE_BUDGET=${AUTOTUNE_BUDGET:-90}
AUTOTUNE_LIMIT=$((AUTOTUNE_BUDGET + 60))
export PYTHONUNBUFFERED=1 PYTHONWARNINGS=ignore
export MIMO_KC_TORCH_BUILD_DIR=${MIMO_KC_TORCH_BUILD_DIR:-$PWD/.cache/torch-ext}
export MIMO_KC_CUDA_ARCH=${MIMO_KC_CUDA_ARCH:-sm_90a}
export MAX_JOBS=${MAX_JOBS:-$(nproc)}
t0=$(date +%s)
stamp() { echo "[h200-check +$(($(date +%s) - t0)) s] $*"; }

stamp "phase facts"
if [ -z "$DRY" ]; then
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.mem --format=csv | tee "$OUT/gpu.txt"
  nvcc --version | tail -1
  "$PY" -c 'import torch, triton; print("torch", torch.__version__, "cuda", torch.version.cuda, "triton", triton.__version__, "gpu", torch.cuda.is_available())'
fi

stamp "phase check.py $DRY"
"$PY" bench/device/check.py $DRY --out "$OUT" 2>&1 | tee "$OUT/check.log"
rc=${PIPESTATUS[0]}
stamp "check.py exit $rc"

stamp "phase autotune"
autotune() {
  if [ ! -f "$CARRY/node.xz" ] || [ ! -f "$CARRY/app.tar.xz" ]; then
    echo "autotune: skipped: $CARRY/ has no node.xz and app.tar.xz (run bash bench/device/prepare.sh here first and name $CARRY in the run call's carry)"
    return
  fi
  # The CLI runs from its own folder: the compiled dist/ and its node_modules unpacked there,
  # bin/ and package.json copied (Node resolves a symlinked script to its real folder), the
  # package's assets linked (the compiler reads ops/, backends/cuda/include/, generated/).
  local app
  app=$(mktemp -d /tmp/mimo-app.XXXX)
  trap 'rm -rf "$app"' RETURN
  xz -dc "$CARRY/node.xz" >"$app/node" && chmod +x "$app/node"
  tar -xJf "$CARRY/app.tar.xz" -C "$app"
  cp -r bin package.json "$app/"
  for d in ops backends generated compiler; do ln -s "$PWD/$d" "$app/$d"; done
  if ! "$app/node" --version >/dev/null 2>&1; then
    echo "autotune: skipped: the carried node does not run on this machine: $("$app/node" --version 2>&1 | head -1)"
    return
  fi
  # Pre-flight: the carried CLI compiles one kernel (ts-morph and typescript load), so a broken
  # carry is told apart from a failed tuning run.
  if ! "$app/node" "$app/bin/mimo-compile.js" --target cuda --ops rmsnorm --out "$app/preflight" >"$app/preflight.log" 2>&1; then
    echo "autotune: skipped: the carried mimo-compile could not compile rmsnorm: $(tail -3 "$app/preflight.log")"
    return
  fi
  echo "autotune: pre-flight ok (carried mimo-compile built rmsnorm)"
  echo "autotune: node $("$app/node" --version), mimo-autotune --target cuda --preset mimo-v2-flash --budget $AUTOTUNE_BUDGET"
  mkdir -p "$OUT/tuning"
  timeout "$AUTOTUNE_LIMIT" "$app/node" "$app/bin/mimo-autotune.js" --target cuda --preset mimo-v2-flash --budget "$AUTOTUNE_BUDGET" --out "$OUT/tuning" 2>&1 | tee "$OUT/autotune.log"
  local at=${PIPESTATUS[0]}
  case "$at" in
    0) echo "autotune: done; the database is in $OUT/tuning/ (copy it to tuning/ in the repository)" ;;
    124) echo "autotune: stopped at the $AUTOTUNE_LIMIT s limit; what was measured is in $OUT/tuning/ (written after each measurement)" ;;
    *) echo "autotune: exit $at (see above); whatever was measured is in $OUT/tuning/" ;;
  esac
}
autotune
stamp "done: check.py exit $rc"
exit "$rc"
