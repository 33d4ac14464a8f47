#!/usr/bin/env bash
# Sets up a fresh Debian/Ubuntu machine with Node >= 20 for vidmesh: OS packages (ffmpeg, and Chromium
# with --with-browser), npm dependencies, build. Safe to run again: each step is skipped when done.
set -euo pipefail
cd "$(dirname "$0")/.."

with_browser=0
for arg in "$@"; do
  case "$arg" in
    --with-browser) with_browser=1 ;;
    *) echo "setup.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

apt_packages=()
command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1 || apt_packages+=(ffmpeg)
if [ "$with_browser" = 1 ] && ! command -v chromium >/dev/null 2>&1; then apt_packages+=(chromium); fi
if [ "${#apt_packages[@]}" -gt 0 ]; then
  echo "setup: installing ${apt_packages[*]} from the OS package manager"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${apt_packages[@]}" >/dev/null
fi

major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 20 ]; then echo "setup: vidmesh needs Node >= 20 (found $(node --version))" >&2; exit 1; fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm dependencies"
  # `npm install` (not `npm ci`): it installs the locked versions too, and npm 11 writes lock files that
  # its own `ci` refuses as out of sync whenever optional per-platform packages (biome, esbuild) exist.
  npm install --no-audit --no-fund --loglevel=error
fi

echo "setup: building"
npm run --silent build

# Leave `vidmesh` on PATH (VIDMESH_BIN_DIR picks the folder; default /usr/local/bin as root).
bash scripts/link-bin.sh "${VIDMESH_BIN_DIR:-}" || echo "setup: vidmesh not linked; run it as node dist/src/cli/main.js" >&2
