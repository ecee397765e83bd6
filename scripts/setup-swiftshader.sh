#!/usr/bin/env bash
# Installs a CPU-only Vulkan driver (SwiftShader, taken from Debian's chromium-common
# package) so Dawn/WebGPU in Node works on machines without a GPU.
# Idempotent: re-running only checks what is already there.
# Where: $MIMO_SWIFTSHADER_DIR, else a clone's own .cache/swiftshader, else (the package
# installed under node_modules) ${XDG_CACHE_HOME:-~/.cache}/mimo-kc/swiftshader; the
# runtime looks in the same places (backends/webgpu/node-adapter.ts).
set -euo pipefail

die() { echo "setup-swiftshader: ERROR: $*" >&2; exit 1; }

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
if [ -n "${MIMO_SWIFTSHADER_DIR:-}" ]; then CACHE="$MIMO_SWIFTSHADER_DIR"
elif [[ "$REPO_ROOT" == */node_modules/* ]]; then CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/mimo-kc/swiftshader"
else CACHE="$REPO_ROOT/.cache/swiftshader"; fi
SO="$CACHE/libvk_swiftshader.so"
ICD="$CACHE/icd.json"

if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo"; else SUDO=""; fi
command -v dpkg >/dev/null || die "dpkg not found; this script needs a Debian/Ubuntu system"
command -v apt-get >/dev/null || die "apt-get not found; this script needs a Debian/Ubuntu system"

apt_updated=0
apt_update_once() {
  if [ "$apt_updated" -eq 0 ]; then
    $SUDO apt-get update -qq >&2 || die "apt-get update failed"
    apt_updated=1
  fi
}

# The Vulkan loader (libvulkan.so.1) is what Dawn dlopens; SwiftShader is only the ICD.
# ldconfig lives in /sbin, which is not on a non-root PATH.
if ! { ldconfig -p 2>/dev/null || /sbin/ldconfig -p 2>/dev/null; } | grep -q 'libvulkan\.so\.1 '; then
  if ! DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends libvulkan1 >&2; then
    apt_update_once
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends libvulkan1 >&2 \
      || die "could not install libvulkan1 (need root or sudo)"
  fi
fi

if [ ! -f "$SO" ]; then
  mkdir -p "$CACHE"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  # As root, apt drops to the _apt user to download and warns when that user cannot
  # write the target folder; downloading as root into our own temp dir is fine.
  sandbox=""
  [ "$(id -u)" -eq 0 ] && sandbox="-o APT::Sandbox::User=root"
  # apt-get download writes to the cwd and needs no root; it fails if the package
  # index has never been fetched, so update once and retry.
  if ! (cd "$tmp" && apt-get download -qq $sandbox chromium-common >&2); then
    apt_update_once
    (cd "$tmp" && apt-get download -qq $sandbox chromium-common >&2) \
      || die "could not download chromium-common (is a Debian main repository configured?)"
  fi
  deb="$(ls "$tmp"/chromium-common_*.deb 2>/dev/null | head -n1)"
  [ -n "$deb" ] || die "chromium-common .deb not found after download"
  dpkg -x "$deb" "$tmp/root" || die "dpkg -x failed on $deb"
  src="$tmp/root/usr/lib/chromium/libvk_swiftshader.so"
  [ -f "$src" ] || die "libvk_swiftshader.so not found in $deb (package layout changed?)"
  # Keep only the driver (5 MB) rather than the whole 66 MB browser payload.
  cp "$src" "$SO.tmp" && mv "$SO.tmp" "$SO"
fi

# Always rewrite: the repo may have moved, and library_path must be absolute.
cat > "$ICD" <<JSON
{
  "file_format_version": "1.0.0",
  "ICD": {
    "library_path": "$SO",
    "api_version": "1.0.5"
  }
}
JSON

echo "SwiftShader ready: VK_ICD_FILENAMES=$ICD"
