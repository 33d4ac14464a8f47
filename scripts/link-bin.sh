#!/usr/bin/env bash
# Puts `vidmesh` (this checkout's dist/src/cli/main.js) on PATH: a symlink in the first writable of
# $1, /usr/local/bin (as root), npm's global bin folder (`npm prefix -g`/bin), ~/.local/bin.
# Run by scripts/setup.sh after the build; safe to run again (the link is replaced).
set -euo pipefail
cd "$(dirname "$0")/.."
main="$PWD/dist/src/cli/main.js"
[ -f "$main" ] || { echo "link-bin: $main missing: run npm run build first" >&2; exit 1; }
# tsc writes files without the executable bit; a symlinked bin needs it (npm sets it on install).
chmod +x "$main"

candidates=()
if [ -n "${1:-}" ]; then candidates+=("$1"); fi
if [ "$(id -u)" -eq 0 ]; then candidates+=(/usr/local/bin); fi
npm_bin="$(npm prefix -g 2>/dev/null)/bin"
candidates+=("$npm_bin" "$HOME/.local/bin")
for dir in "${candidates[@]}"; do
  mkdir -p "$dir" 2>/dev/null || continue
  [ -w "$dir" ] || continue
  ln -sfn "$main" "$dir/vidmesh"
  echo "setup: vidmesh -> $dir/vidmesh"
  case ":$PATH:" in
    *":$dir:"*) ;;
    *) echo "setup: add $dir to PATH (export PATH=\"$dir:\$PATH\")" >&2 ;;
  esac
  exit 0
done
echo "link-bin: no writable folder for the vidmesh link; run: node $main" >&2
exit 1
