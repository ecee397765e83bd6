#!/usr/bin/env bash
# The full test suite (what .ci/run runs): set-up, type check, every uvu test file.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
echo "== typecheck (kernels and compiler are strict TypeScript)"
npx tsc --noEmit -p tsconfig.json
echo "== tests"
log="$(mktemp)"
set +e
node --import tsx node_modules/uvu/bin.js test '\.test\.ts$' 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# uvu's summary, restated as the plain closing line CI tools look for.
clean="$(sed 's/\x1b\[[0-9;]*m//g' "$log")"
total="$(grep -Eo 'Total: +[0-9]+' <<<"$clean" | grep -Eo '[0-9]+' | tail -1)"
passed="$(grep -Eo 'Passed: +[0-9]+' <<<"$clean" | grep -Eo '[0-9]+' | tail -1)"
skipped="$(grep -Eo 'Skipped: +[0-9]+' <<<"$clean" | grep -Eo '[0-9]+' | tail -1)"
rm -f "$log"
if [ -z "$total" ]; then echo "0 passed, 1 failed"; exit 1; fi
echo "${passed} passed, $((total - passed - skipped)) failed, ${skipped} skipped"
exit "$status"
