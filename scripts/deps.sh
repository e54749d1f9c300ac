#!/usr/bin/env bash
# Installs the system packages Stowage needs to run (PostgreSQL server binaries) and, with
# --test, what the test suite needs. Safe to run again: it installs only what is missing.
set -euo pipefail

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "deps: need root (or sudo) to run: $*" >&2; exit 1; fi
}

missing=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v runuser >/dev/null 2>&1 || missing+=(util-linux)
# libvips for the built-in image transformations: the cgo build loads it on the first render
# (run time only); gcc compiles the small loader.
{ ldconfig -p || /sbin/ldconfig -p; } 2>/dev/null | grep -q 'libvips\.so\.42 ' || missing+=(libvips42)
command -v gcc >/dev/null 2>&1 || missing+=(gcc)
if [ "$want_test" = 1 ]; then
  command -v gcc >/dev/null 2>&1 || missing+=(gcc)   # the race detector needs cgo
  # The render tests decode answers with govips and check the loader against the headers.
  pkg-config --exists vips 2>/dev/null || missing+=(libvips-dev pkg-config)
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  # Real clients for conformance/: the Debian packages, called by absolute path in tests.
  [ -x /usr/bin/aws ] || missing+=(awscli)
  [ -x /usr/bin/rclone ] || missing+=(rclone)
  [ -x /usr/bin/s3cmd ] || missing+=(s3cmd)
  command -v node >/dev/null 2>&1 || missing+=(nodejs)
  command -v npm >/dev/null 2>&1 || missing+=(npm)
  # Headless browser for the console's end-to-end test (conformance/console, over CDP).
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian's postgresql package starts a system cluster; Stowage runs its own and needs none.
command -v go >/dev/null 2>&1 || { echo "deps: Go is required (https://go.dev/dl)" >&2; exit 1; }
