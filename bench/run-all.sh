#!/usr/bin/env bash
# Runs every benchmark, prints each one's figures, then a Markdown table for the README.
# Usage: bench/run-all.sh [--no-build]
# hyperfine, when installed, cross-checks the startup figures; node and bash are enough without it.
set -euo pipefail
cd "$(dirname "$0")/.."

build=1
for arg in "$@"; do
  case $arg in
    --no-build) build=0 ;;
    *)
      echo "run-all: unknown argument \`$arg\`" >&2
      echo "  hint: bench/run-all.sh [--no-build]" >&2
      exit 2
      ;;
  esac
done

# The benchmarks time dist/, so it is built from the sources being measured.
if ((build)); then
  node scripts/build-cli.mjs
fi

rows=$(mktemp "${TMPDIR:-/tmp}/keystone-bench-rows.XXXXXX")
trap 'rm -f "$rows"' EXIT

startup_flags=(--rows "$rows")
if command -v hyperfine >/dev/null; then
  startup_flags+=(--hyperfine)
fi

node bench/cli-startup.mjs "${startup_flags[@]}"
echo
node bench/check-generate-200.mjs --rows "$rows"
echo
echo '| benchmark | result | goal |'
echo '| --- | --- | --- |'
cat "$rows"
echo
node -p "'_' + new Date().toISOString().slice(0, 10) + ', node ' + process.version + ', ' + process.platform + ' ' + process.arch + ', ' + require('node:os').availableParallelism() + ' CPUs (bench/run-all.sh)_'"
