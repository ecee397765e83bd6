#!/usr/bin/env bash
# The full test suite (what .ci/run runs): set-up, type check, every uvu test file.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
echo "== typecheck (kernels and compiler are strict TypeScript)"
npx tsc --noEmit -p tsconfig.json
echo "== tests"
# Each test file in its own process, two at a time on two cores (scripts/run-tests.mjs);
# it ends with the plain "N passed, M failed, K skipped" line CI tools look for.
node scripts/run-tests.mjs
