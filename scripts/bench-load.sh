#!/usr/bin/env bash
# The load benchmark against running servers, with peers measured in the same run:
#   minio            MinIO directly (the peer)
#   minio-relay      MinIO behind a bare TCP relay (stowage-bench relay: splices bytes, does
#                    nothing else): the physical limit of any gateway in front of MinIO here
#   stowage-s3       Stowage's S3 dialect (/s3), file backend
#   stowage-proxy    Stowage's S3 dialect (/s3), s3 backend → the same MinIO
#   stowage-rest     Stowage's REST dialect (service key), file backend (the stowage-s3 server)
#   before-s3/-rest  with STOWAGE_BEFORE=/path/to/an/older/stowage: that binary, file backend,
#                    so a change is measured before/after in the same run
#   before-proxy     with STOWAGE_BEFORE and STOWAGE_BEFORE_BACKEND=s3: that binary on the s3
#                    backend (its own upstream bucket in the same MinIO), beside stowage-proxy
#                    STOWAGE_BEFORE_ENV="NAME=value ..." is added to the before server's
#                    environment, so a setting can be measured on and off with one binary
#                    (STOWAGE_BEFORE=bin/stowage STOWAGE_BEFORE_ENV=STOWAGE_INLINE_MAX_BYTES=0)
#   hook-s3/-rest    with STOWAGE_WEBHOOK=1: a Stowage like stowage-s3 with WEBHOOK_URL set to a
#                    receiver that acknowledges everything (its own process, reported as
#                    "receiver"), so writes with events delivered compare with stowage-s3/-rest
# CPU per operation is reported for each server process with its children (a Stowage's
# embedded Postgres counts towards it) and, as *-pg, for each Stowage's Postgres alone.
# Each Stowage runs on embedded defaults (its own Postgres) in a temporary folder. Prints the
# bench table (ratios against MinIO), the CPU each process (with its children: a Stowage's
# embedded Postgres counts towards it) spent per operation, and each Stowage's peak RSS.
# Asserts nothing.
# Usage: scripts/bench-load.sh [stowage-bench flags, e.g. -duration 10s -workers 8]
#   -only a,b measures only those targets (ratios against the first), -cases put-64KiB,...
#   any size: STOWAGE_WEBHOOK=1 scripts/bench-load.sh -only stowage-s3,hook-s3 -cases put-4KiB,put-1MiB
set -euo pipefail
cd "$(dirname "$0")/.."
unset AWS_CA_BUNDLE
minio=$(scripts/minio.sh)
go build -o bin/stowage ./cmd/stowage
go build -o bin/stowage-bench ./cmd/stowage-bench
tmp=$(mktemp -d /tmp/stowage-bench-XXXXXX)
chmod 755 "$tmp"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

port() { local p; for _ in $(seq 50); do p=$((20000 + RANDOM % 30000)); (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }; done; return 1; }
wait_http() { for _ in $(seq 600); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done; echo "not ready: $1" >&2; return 1; }

ak=benchaccesskey; sk=bench-secret-key-0123456789
mport=$(port)
MINIO_ROOT_USER=$ak MINIO_ROOT_PASSWORD=$sk "$minio" server --quiet --address "127.0.0.1:$mport" "$tmp/minio" >"$tmp/minio.log" 2>&1 &
pids+=($!)
minio_pid=$!
wait_http "http://127.0.0.1:$mport/minio/health/live"

start_stowage_bin() { # binary name port extra-env...
  local bin=$1 name=$2 p=$3; shift 3
  env -i PATH="$PATH" HOME="$HOME" SERVER_HOST=127.0.0.1 SERVER_PORT="$p" STOWAGE_DATA_DIR="$tmp/$name" LOG_LEVEL=error \
    S3_PROTOCOL_ACCESS_KEY_ID=$ak S3_PROTOCOL_ACCESS_KEY_SECRET=$sk "$@" "$bin" serve >"$tmp/$name.log" 2>&1 &
  pids+=($!)
  echo $! >"$tmp/$name.pid"
  wait_http "http://127.0.0.1:$p/status"
}
start_stowage() { start_stowage_bin bin/stowage "$@"; } # name port extra-env...
service_key() { sed -n 's/^SUPABASE_SERVICE_ROLE_KEY=//p' "$tmp/$1.log" | head -1; }
pg_pid() { pgrep -P "$(cat "$tmp/$1.pid")" -x postgres | head -1; }
rport=$(port)
bin/stowage-bench relay "127.0.0.1:$rport" "127.0.0.1:$mport" >"$tmp/relay.log" 2>&1 &
pids+=($!)
relay_pid=$!
fport=$(port); start_stowage file "$fport"
# The s3 backend on the MinIO above (each server names its own upstream bucket after it).
s3_backend=(STORAGE_BACKEND=s3 STORAGE_S3_ENDPOINT="http://127.0.0.1:$mport" STORAGE_S3_REGION=us-east-1
  STORAGE_S3_FORCE_PATH_STYLE=true AWS_ACCESS_KEY_ID=$ak AWS_SECRET_ACCESS_KEY=$sk)
pport=$(port); start_stowage proxy "$pport" "${s3_backend[@]}" STORAGE_S3_BUCKET=upstream

targets=()
cpus=(-cpu "minio=$minio_pid" -cpu "relay=$relay_pid" -cpu "stowage-file=$(cat "$tmp/file.pid")" -cpu "file-pg=$(pg_pid file)"
  -cpu "stowage-proxy=$(cat "$tmp/proxy.pid")" -cpu "proxy-pg=$(pg_pid proxy)")
before_backend=${STOWAGE_BEFORE_BACKEND:-file}
case $before_backend in file|s3) ;; *) echo "STOWAGE_BEFORE_BACKEND: want file or s3" >&2; exit 2 ;; esac
if [ -n "${STOWAGE_BEFORE:-}" ]; then
  bport=$(port)
  read -r -a before_env <<<"${STOWAGE_BEFORE_ENV:-}"
  if [ "$before_backend" = s3 ]; then
    start_stowage_bin "$STOWAGE_BEFORE" before "$bport" "${s3_backend[@]}" STORAGE_S3_BUCKET=upstream-before ${before_env[@]+"${before_env[@]}"}
  else
    start_stowage_bin "$STOWAGE_BEFORE" before "$bport" ${before_env[@]+"${before_env[@]}"}
  fi
  cpus+=(-cpu "before=$(cat "$tmp/before.pid")" -cpu "before-pg=$(pg_pid before)")
fi
if [ -n "${STOWAGE_WEBHOOK:-}" ]; then
  go build -o "$tmp/receiver" ./gateway/events/testdata/receiver
  mkfifo "$tmp/receiver.in"
  "$tmp/receiver" <"$tmp/receiver.in" >"$tmp/receiver.url" &
  pids+=($!)
  receiver_pid=$!
  exec 7>"$tmp/receiver.in" # the receiver exits when this closes
  for _ in $(seq 100); do [ -s "$tmp/receiver.url" ] && break; sleep 0.1; done
  hport=$(port); start_stowage hook "$hport" WEBHOOK_URL="$(cat "$tmp/receiver.url")"
  cpus+=(-cpu "stowage-hook=$(cat "$tmp/hook.pid")" -cpu "hook-pg=$(pg_pid hook)" -cpu "receiver=$receiver_pid")
fi

export AWS_ACCESS_KEY_ID=$ak AWS_SECRET_ACCESS_KEY=$sk AWS_EC2_METADATA_DISABLED=true AWS_DEFAULT_REGION=us-east-1
mb() { /usr/bin/aws --endpoint-url "$1" s3 mb "s3://$2" >/dev/null; }
mb "http://127.0.0.1:$mport" upstream
[ -n "${STOWAGE_BEFORE:-}" ] && [ "$before_backend" = s3 ] && mb "http://127.0.0.1:$mport" upstream-before
mb "http://127.0.0.1:$mport" bench
mb "http://127.0.0.1:$fport/s3" bench
mb "http://127.0.0.1:$pport/s3" bench
mb "http://127.0.0.1:$fport/s3" bench-rest
targets+=(-target "name=stowage-rest,kind=rest,url=http://127.0.0.1:$fport,bucket=bench-rest,key=$(service_key file)")
if [ -n "${STOWAGE_WEBHOOK:-}" ]; then
  mb "http://127.0.0.1:$hport/s3" bench
  mb "http://127.0.0.1:$hport/s3" bench-rest
  targets+=(-target "name=hook-s3,kind=s3,url=http://127.0.0.1:$hport/s3,bucket=bench,access=$ak,secret=$sk"
    -target "name=hook-rest,kind=rest,url=http://127.0.0.1:$hport,bucket=bench-rest,key=$(service_key hook)")
fi
if [ -n "${STOWAGE_BEFORE:-}" ] && [ "$before_backend" = s3 ]; then
  mb "http://127.0.0.1:$bport/s3" bench
  targets+=(-target "name=before-proxy,kind=s3,url=http://127.0.0.1:$bport/s3,bucket=bench,access=$ak,secret=$sk")
elif [ -n "${STOWAGE_BEFORE:-}" ]; then
  mb "http://127.0.0.1:$bport/s3" bench
  mb "http://127.0.0.1:$bport/s3" bench-rest
  targets+=(-target "name=before-s3,kind=s3,url=http://127.0.0.1:$bport/s3,bucket=bench,access=$ak,secret=$sk"
    -target "name=before-rest,kind=rest,url=http://127.0.0.1:$bport,bucket=bench-rest,key=$(service_key before)")
fi

bin/stowage-bench -also-vs minio-relay "${cpus[@]}" "$@" \
  -target "name=minio,kind=s3,url=http://127.0.0.1:$mport,bucket=bench,access=$ak,secret=$sk" \
  -target "name=minio-relay,kind=s3,url=http://127.0.0.1:$rport,bucket=bench,access=$ak,secret=$sk" \
  -target "name=stowage-s3,kind=s3,url=http://127.0.0.1:$fport/s3,bucket=bench,access=$ak,secret=$sk" \
  -target "name=stowage-proxy,kind=s3,url=http://127.0.0.1:$pport/s3,bucket=bench,access=$ak,secret=$sk" \
  "${targets[@]}"

names=(file proxy)
[ -n "${STOWAGE_BEFORE:-}" ] && names+=(before)
[ -n "${STOWAGE_WEBHOOK:-}" ] && names+=(hook)
for name in "${names[@]}"; do
  pid=$(cat "$tmp/$name.pid")
  echo "peak RSS stowage ($name backend): $(awk '/VmHWM/ {printf "%.1f MiB", $2/1024}' "/proc/$pid/status")"
done
