#!/usr/bin/env bash
# The Go-built servers and tools that the tests and benchmarks drive for real, each pinned and
# built once per machine from the Go module proxy into ~/.cache/keystone/tools/<name>-<version>/.
#   scripts/go-tools.sh build [--bench]   build what is missing (--bench: restic too, for bench/)
#   scripts/go-tools.sh path  [--bench]   print the PATH entries of the pinned builds
# MinIO and restic build with `go install`. SeaweedFS's go.mod has a replace directive, which
# `go install module@version` refuses, so its module is downloaded from the proxy the same way
# and `weed` is built inside it, with its own go.mod in charge.
set -euo pipefail

MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
SEAWEEDFS_VERSION=v0.0.0-20261109003541-7506e5f91cd6
RESTIC_VERSION=v0.18.1

tools="${XDG_CACHE_HOME:-$HOME/.cache}/keystone/tools"
mode=${1:-}
bench=false
[[ ${2:-} == --bench ]] && bench=true

dirs=("$tools/minio-$MINIO_VERSION" "$tools/weed-$SEAWEEDFS_VERSION")
$bench && dirs+=("$tools/restic-$RESTIC_VERSION")

case $mode in
  path)
    (IFS=:; echo "${dirs[*]}")
    exit 0
    ;;
  build) ;;
  *)
    echo "usage: scripts/go-tools.sh build|path [--bench]" >&2
    exit 2
    ;;
esac

go=$(command -v go || echo /usr/local/go/bin/go)
if [[ ! -x $go ]]; then
  echo "go-tools: Go (1.26 or later) is needed to build the S3 servers the tests start" >&2
  exit 1
fi

# go install <module>@<version> into <dir>, unless <dir>/<binary> is there already.
install() {
  local dir=$1 binary=$2 package=$3
  [[ -x $dir/$binary ]] && return 0
  echo "go-tools: building $package (once per machine)"
  GOBIN="$dir.partial" "$go" install "$package"
  rm -rf "$dir"
  mv "$dir.partial" "$dir"
}

install "$tools/minio-$MINIO_VERSION" minio "github.com/minio/minio@$MINIO_VERSION"

weed_dir="$tools/weed-$SEAWEEDFS_VERSION"
if [[ ! -x $weed_dir/weed ]]; then
  echo "go-tools: building github.com/seaweedfs/seaweedfs/weed@$SEAWEEDFS_VERSION (once per machine)"
  source_dir=$("$go" mod download -json "github.com/seaweedfs/seaweedfs@$SEAWEEDFS_VERSION" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [[ -d $source_dir/weed ]] || { echo "go-tools: the SeaweedFS module did not download" >&2; exit 1; }
  mkdir -p "$weed_dir.partial"
  (cd "$source_dir/weed" && "$go" build -trimpath -o "$weed_dir.partial/weed" .)
  rm -rf "$weed_dir"
  mv "$weed_dir.partial" "$weed_dir"
fi

if $bench; then
  install "$tools/restic-$RESTIC_VERSION" restic "github.com/restic/restic/cmd/restic@$RESTIC_VERSION"
fi
