#!/usr/bin/env bash
# Builds everything and runs every test: unit tests (GoogleTest) and the
# integration tests that run real C and Python programs under the preload.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
ctest --test-dir build --output-on-failure --timeout 1800
