#!/usr/bin/env bash
# Run HERE (the machine with Node), before the device call: builds what the H200 machine
# lacks for the autotune phase, which runs mimo-autotune there. That machine has no Node and
# no registry, so we carry an xz-compressed copy of this machine's node and a tarball of the
# compiled CLI (dist/, as `npm pack` builds it) with the only node_modules it loads at run
# time (ts-morph, typescript and their dependencies). Both land in bench/device/carry/, which
# .gitignore ignores and the device `run` call names in `carry`.
#
#   bash bench/device/prepare.sh        # a few minutes on 2 cores (xz -9 of a 100 MB binary dominates)
set -euo pipefail
cd "$(dirname "$0")/../.."
CARRY=bench/device/carry
# What travels: the tracked files (~17 MB today) plus this folder, under the device tool's 64 MiB.
LIMIT_MIB=40
ROOTS=(ts-morph typescript picomatch)

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
rm -rf "$CARRY"
mkdir -p "$CARRY"

echo "prepare: compiling the CLI (tsc -p tsconfig.build.json) into a staging dist/"
if ! npx tsc -p tsconfig.build.json --outDir "$stage/dist" >"$stage/tsc.log" 2>&1; then
  echo "prepare: tsc -p tsconfig.build.json failed; the autotune phase needs a clean build:" >&2
  head -20 "$stage/tsc.log" >&2
  exit 1
fi

# The run-time dependency closure of ROOTS, from each package's package.json (npm's hoisted layout).
STAGE="$stage" node -e '
  const fs = require("fs"), path = require("path");
  const seen = new Set(), todo = process.argv.slice(1);
  while (todo.length) {
    const name = todo.pop();
    if (seen.has(name)) continue;
    const pj = path.join("node_modules", name, "package.json");
    if (!fs.existsSync(pj)) { console.error(`prepare: ${pj} is missing (run npm ci first)`); process.exit(1); }
    seen.add(name);
    todo.push(...Object.keys(JSON.parse(fs.readFileSync(pj, "utf8")).dependencies ?? {}));
  }
  fs.writeFileSync(path.join(process.env.STAGE, "modules.txt"), [...seen].sort().map((n) => "node_modules/" + n).join("\n") + "\n");
' "${ROOTS[@]}"
echo "prepare: node_modules carried: $(tr '\n' ' ' <"$stage/modules.txt")"

tar -cf - -C "$stage" dist -C "$PWD" -T "$stage/modules.txt" | xz -T2 -9 >"$CARRY/app.tar.xz"
echo "prepare: compressing $(command -v node) ($(node --version))"
xz -T2 -9 -c "$(command -v node)" >"$CARRY/node.xz"
node --version >"$CARRY/node.version"

size=$(du -sm "$CARRY" | cut -f1)
ls -l "$CARRY"
if [ "$size" -gt "$LIMIT_MIB" ]; then
  echo "prepare: $CARRY is $size MiB, over the $LIMIT_MIB MiB this plan leaves beside the tracked files" >&2
  exit 1
fi
echo "prepare: $CARRY ready ($size MiB); carry it with the device run (bench/device/README.md)"
