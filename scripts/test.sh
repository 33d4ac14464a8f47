#!/usr/bin/env bash
# The README's second command: set up, then lint, typecheck (build) and run the whole test suite.
# Tests need PostgreSQL on 127.0.0.1:5432 with trust auth: started (or installed) here when missing;
# VIDMESH_TEST_DATABASE_URL points the tests at another server instead.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --with-browser
bash scripts/ensure-postgres.sh
npx biome check .
node scripts/run-tests.mjs "$@"
