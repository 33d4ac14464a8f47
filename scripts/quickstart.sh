#!/usr/bin/env bash
# The README's first command: set up, then run vidmesh's main job on the embedded default.
# Usage: scripts/quickstart.sh [video-file]   (without a file, a 10 s sample is generated)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node dist/src/cli/main.js quickstart "$@"
