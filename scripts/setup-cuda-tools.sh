#!/usr/bin/env bash
# Fetches nvdisasm (and cuobjdump), which the CUDA 13 toolkit here lacks and `mimo-report`
# reads SASS with. They come from Debian trixie's non-free `nvidia-cuda-toolkit` (CUDA
# 12.4, which disassembles sm_80 and sm_90a cubins); both binaries need only libc.
# Nothing is installed system-wide: apt runs against a temporary source list, state and
# cache of its own, and the .deb is unpacked with dpkg -x; only the two binaries are kept.
# Idempotent: re-running only prints where nvdisasm is.
# Where: $MIMO_CUDA_TOOLS_DIR, else a clone's own .cache/cuda-tools, else (the package
# installed under node_modules) ${XDG_CACHE_HOME:-~/.cache}/mimo-kc/cuda-tools; mimo-report
# looks in the same places (compiler/report/tools.ts).
set -euo pipefail

die() { echo "setup-cuda-tools: ERROR: $*" >&2; exit 1; }

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
if [ -n "${MIMO_CUDA_TOOLS_DIR:-}" ]; then CACHE="$MIMO_CUDA_TOOLS_DIR"
elif [[ "$REPO_ROOT" == */node_modules/* ]]; then CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/mimo-kc/cuda-tools"
else CACHE="$REPO_ROOT/.cache/cuda-tools"; fi
BIN="$CACHE/bin"

if [ ! -x "$BIN/nvdisasm" ]; then
  command -v apt-get >/dev/null || die "apt-get not found; this script needs a Debian/Ubuntu system"
  command -v dpkg >/dev/null || die "dpkg not found; this script needs a Debian/Ubuntu system"
  KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
  [ -f "$KEYRING" ] || die "$KEYRING not found (package debian-archive-keyring): it verifies the trixie archive"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  mkdir -p "$tmp/lists/partial" "$tmp/cache/archives/partial"
  echo "deb [signed-by=$KEYRING] http://deb.debian.org/debian trixie non-free" > "$tmp/sources.list"
  # apt drops to the _apt user, who cannot write our temp folder: stay the current user.
  apt_opts=(
    -o "Dir::Etc::SourceList=$tmp/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$tmp/lists" -o "Dir::Cache=$tmp/cache"
    -o "APT::Sandbox::User=$(id -un)" -o Debug::NoLocking=1
  )
  apt-get "${apt_opts[@]}" update -qq >&2 || die "apt-get update of the trixie non-free index failed (network? deb.debian.org)"
  (cd "$tmp" && apt-get "${apt_opts[@]}" download -qq nvidia-cuda-toolkit >&2) || die "could not download nvidia-cuda-toolkit from trixie non-free"
  deb="$(ls "$tmp"/nvidia-cuda-toolkit_*.deb 2>/dev/null | head -n1)"
  [ -n "$deb" ] || die "nvidia-cuda-toolkit .deb not found after download"
  dpkg -x "$deb" "$tmp/root" || die "dpkg -x failed on $deb"
  mkdir -p "$BIN"
  for tool in nvdisasm cuobjdump; do
    [ -x "$tmp/root/usr/bin/$tool" ] || die "$tool not found in $deb (package layout changed?)"
    cp "$tmp/root/usr/bin/$tool" "$BIN/$tool.tmp" && mv "$BIN/$tool.tmp" "$BIN/$tool"
  done
fi

"$BIN/nvdisasm" --version >/dev/null 2>&1 || die "$BIN/nvdisasm does not run on this machine"
echo "nvdisasm ready: $BIN/nvdisasm (mimo-report finds it there; or set NVDISASM)"
