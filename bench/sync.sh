#!/usr/bin/env bash
# The sync agent against restic and rclone, side by side (bench/sync.mjs says what is measured).
# Needs: minio on PATH (.ci/run builds it), restic and rclone (Debian), GNU time.
# Usage: bench/sync.sh [--quick] [--json results.json]
set -euo pipefail
cd "$(dirname "$0")/.."
for minio_dir in "${XDG_CACHE_HOME:-$HOME/.cache}"/keystone/tools/minio-*; do
  [[ -x $minio_dir/minio ]] && PATH="$minio_dir:$PATH"
done
export PATH
[[ -f dist/cli/main.js ]] || node scripts/build-cli.mjs
exec node bench/sync.mjs "$@"
