#!/usr/bin/env bash
# The tracked demo: a C program that leaks a few kinds of descriptors, run
# under `fdtrack run`; the leak report is printed at its exit.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
echo
echo "\$ build/fdtrack run --json build/demo-report.json -- build/examples/leaky"
set +e
build/fdtrack run --json build/demo-report.json -- build/examples/leaky
status=$?
set -e
echo
echo "(the program exited with status $status; JSON report: build/demo-report.json)"
