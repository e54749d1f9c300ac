#!/usr/bin/env bash
# The whole test suite: installs what it needs, starts one throw-away PostgreSQL cluster on a
# free loopback port for the run, runs every Go test with the race detector, tears it down.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh --test

unset AWS_CA_BUNDLE  # real clients refuse plain-http endpoints when it is set (FIELD-NOTES)

pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
[ -n "$pgbin" ] || pgbin=$(dirname "$(command -v initdb)")
tmp=$(mktemp -d /tmp/stowage-test-XXXXXX)
chmod 755 "$tmp"
run_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if [ "$(id -u)" = 0 ]; then chown postgres "$tmp"; fi
free_port() {
  local p
  for _ in $(seq 50); do
    p=$((20000 + RANDOM % 30000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
  echo "no free port found" >&2; return 1
}
port=$(free_port)

cleanup() {
  run_pg "$pgbin/pg_ctl" -D "$tmp/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT

run_pg "$pgbin/initdb" -D "$tmp/data" -U postgres -A trust -E UTF8 --locale=C --no-sync >/dev/null
run_pg "$pgbin/pg_ctl" -D "$tmp/data" -l "$tmp/postgres.log" -w -t 60 \
  -o "-p $port -k $tmp -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
  start >/dev/null
export STOWAGE_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
echo "test postgres on 127.0.0.1:$port" >&2

# JavaScript clients (storage-js, tus-js-client) for conformance/, from their lock files.
for pkg in conformance/*/package-lock.json; do
  [ -e "$pkg" ] || continue
  d=$(dirname "$pkg")
  if [ ! -d "$d/node_modules" ] || [ "$pkg" -nt "$d/node_modules/.package-lock.json" ]; then
    (cd "$d" && npm ci --no-audit --no-fund --loglevel=error)
  fi
done

go vet ./...
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then echo "gofmt needed: $unformatted" >&2; exit 1; fi
# The pinned MinIO (S3 upstream peer for gateway/backend/s3backend and the s3 backend e2e
# tests); built from the module proxy the first time, cached afterwards.
STOWAGE_TEST_MINIO_BIN=$(scripts/minio.sh)
export STOWAGE_TEST_MINIO_BIN
go test -race -count=1 -timeout 20m "${@:-./...}"
