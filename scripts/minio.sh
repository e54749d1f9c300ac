#!/usr/bin/env bash
# Prints the path of a pinned MinIO server binary, building it from the Go module proxy the
# first time (about 3.5 minutes cold on 2 cores; FIELD-NOTES). Tests and `make bench-load` use
# it as the S3 upstream peer. Override the version with STOWAGE_MINIO_VERSION.
#
# MinIO has no semver tags, so the pin is the module proxy's pseudo-version of a commit.
set -euo pipefail
version=${STOWAGE_MINIO_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}
dir=${XDG_CACHE_HOME:-$HOME/.cache}/stowage/minio-$version
bin=$dir/minio
if [ ! -x "$bin" ]; then
  mkdir -p "$dir"
  # Build into a temporary GOBIN and rename, so a build interrupted half-way never leaves a
  # binary that later runs would trust; concurrent builders serialise on a lock.
  exec 9>"$dir/.lock"
  flock 9
  if [ ! -x "$bin" ]; then
    tmp=$(mktemp -d "$dir/.build-XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    echo "building MinIO $version into $dir (takes minutes the first time)" >&2
    (cd "$tmp" && GOFLAGS=-buildvcs=false GOBIN="$tmp" CGO_ENABLED=0 go install "github.com/minio/minio@$version")
    mv "$tmp/minio" "$bin"
  fi
fi
echo "$bin"
