#!/usr/bin/env bash
# The README's second command: set up, then lint, typecheck (build) and run the whole test suite.
# Needs PostgreSQL on 127.0.0.1:5432 with trust auth (override with VIDMESH_TEST_DATABASE_URL).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --with-browser
npx biome check .
node scripts/run-tests.mjs "$@"
