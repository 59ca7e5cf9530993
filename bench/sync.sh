#!/usr/bin/env bash
# The sync agent against restic and rclone, side by side, on MinIO and SeaweedFS (bench/sync.mjs
# says what is measured). Builds the pinned MinIO, SeaweedFS and restic once per machine
# (scripts/go-tools.sh); needs rclone and GNU time (Debian: apt-get install rclone time).
# Usage: bench/sync.sh [--quick] [--plain] [--servers minio,seaweedfs] [--sets mixed,many-small,tiny]
#                      [--json results.json]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/go-tools.sh build --bench >&2
tool_path=$(bash scripts/go-tools.sh path --bench)
export PATH="$tool_path:$PATH"
[[ -f dist/cli/main.js ]] || node scripts/build-cli.mjs
exec node bench/sync.mjs "$@"
