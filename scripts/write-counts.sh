#!/usr/bin/env bash
# Counts of a new-key PutObject (4 KiB) that do not depend on the machine's load
# (docs/engine.md, "Where a small write's CPU goes"); asserts nothing:
#   - WAL syncs/writes, Postgres plans (custom/generic) and allocations per op:
#     gateway BenchmarkPutNewKeyCounts (a durable Postgres cluster of its own);
#   - the file store's syscalls per op: filebackend BenchmarkPutNewKey4KiB under strace -c
#     (the test binary's temp-folder cleanup adds ~1 openat, 3 unlinkat, 2 getdents64 and
#     2 close per op; subtract them, or compare two runs).
# Usage: scripts/write-counts.sh [ops, default 500]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-500}
go test -run '^$' -bench PutNewKeyCounts -benchmem -benchtime "${n}x" ./gateway | grep Benchmark
if command -v strace >/dev/null; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  go test -c -o "$tmp/fb.test" ./gateway/backend/filebackend
  strace -f -c -o "$tmp/strace.txt" "$tmp/fb.test" -test.run '^$' -test.bench PutNewKey4KiB -test.benchtime "${n}x" >/dev/null
  echo "file store syscalls per new-key Put ($((n + 1)) ops, incl. the cleanup noted above):"
  awk -v n=$((n + 1)) '$NF ~ /^(openat|openat2|close|mkdirat|fsync|fdatasync|renameat|write|fsetxattr|fcntl|unlinkat|getdents64)$/ {
    printf "  %-11s %.2f\n", $NF, $4 / n }' "$tmp/strace.txt"
else
  echo "strace missing: no syscall counts" >&2
fi
