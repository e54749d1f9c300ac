#!/usr/bin/env bash
# Idle footprint of the stowage binary in embedded mode (docs/footprint.md): starts it,
# waits SETTLE seconds after /status answers, and prints VmRSS (/proc/PID/status), PSS
# (/proc/PID/smaps_rollup, split into anonymous and file-backed), the shared libraries
# mapped, threads, and the Go runtime's own figures from /metrics. With RENDER=1 (the
# default) it then renders one 1600x1200 PNG to a 400-wide WebP and measures again.
# Reports, asserts nothing. Postgres runs as child processes and is not counted.
#
#   scripts/footprint.sh [binary]          # default bin/stowage (make build)
#   DATA_DIR=/tmp/fp scripts/footprint.sh  # reuse a data folder (skips initdb's ~30 s)
#   STOWAGE_LIBVIPS=nope.so scripts/footprint.sh   # any server env passes through
set -euo pipefail

bin=${1:-bin/stowage}
settle=${SETTLE:-10}
render=${RENDER:-1}
port=${PORT:-$((20000 + RANDOM % 20000))}
data=${DATA_DIR:-$(mktemp -d)}
log=$(mktemp)
base=http://127.0.0.1:$port

STOWAGE_DATA_DIR=$data SERVER_PORT=$port SERVER_HOST=127.0.0.1 "$bin" serve >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -f "$log"' EXIT

for _ in $(seq 180); do
  curl -sf "$base/status" >/dev/null 2>&1 && break
  kill -0 $pid 2>/dev/null || { cat "$log" >&2; exit 1; }
  sleep 1
done
curl -sf "$base/status" >/dev/null || { echo "footprint: server not ready" >&2; cat "$log" >&2; exit 1; }
key=$(sed -n 's/^SUPABASE_SERVICE_ROLE_KEY=//p' "$log" | head -1)

kib() { awk -v k="$1" '$1 == k":" {print $2}' "$2"; }
measure() {
  local rss pss anon file libs vips threads
  rss=$(kib VmRSS /proc/$pid/status)
  threads=$(kib Threads /proc/$pid/status)
  pss=$(kib Pss /proc/$pid/smaps_rollup)
  anon=$(kib Pss_Anon /proc/$pid/smaps_rollup)
  file=$(kib Pss_File /proc/$pid/smaps_rollup)
  libs=$(awk '$6 ~ /\.so/ {print $6}' /proc/$pid/maps | sort -u | wc -l)
  vips=$(awk '$6 ~ /libvips/ {print $6}' /proc/$pid/maps | sort -u | wc -l)
  awk -v l="$1" -v rss="$rss" -v pss="$pss" -v anon="$anon" -v file="$file" -v libs="$libs" -v vips="$vips" -v th="$threads" \
    'BEGIN {printf "%-13s VmRSS %6.1f MiB  PSS %6.1f MiB (anon %5.1f, file %5.1f)  libs %3d (libvips %d)  threads %d\n",
      l, rss/1024, pss/1024, anon/1024, file/1024, libs, vips, th}'
  curl -s "$base/metrics" | awk '
    /^go_memstats_heap_inuse_bytes / {h=$2} /^go_memstats_heap_sys_bytes / {hs=$2}
    /^go_memstats_heap_released_bytes / {r=$2} /^go_memstats_stack_inuse_bytes / {s=$2}
    /^go_memstats_sys_bytes / {sys=$2} /^go_goroutines / {g=$2}
    END {printf "              Go: heap in use %.1f MiB, heap from OS %.1f MiB (released %.1f), stacks %.1f MiB, runtime total %.1f MiB, %d goroutines\n",
      h/1048576, hs/1048576, r/1048576, s/1048576, sys/1048576, g}'
}

sleep "$settle"
echo "footprint of $bin (pid $pid), ${settle}s after ready"
measure idle

if [ "$render" = 1 ]; then
  img=$(mktemp --suffix=.png)
  python3 - "$img" <<'PY'
import struct, sys, zlib
w, h = 1600, 1200
rows = bytearray()
for y in range(h):
    rows.append(0)
    for x in range(w):
        rows += bytes((x * 255 // w, y * 255 // h, (x * y) % 251))
chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
open(sys.argv[1], "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                              + chunk(b"IDAT", zlib.compress(bytes(rows), 6)) + chunk(b"IEND", b""))
PY
  b=fp$RANDOM
  curl -sf -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
    -d "{\"name\":\"$b\",\"public\":true}" "$base/bucket" >/dev/null
  curl -sf -H "Authorization: Bearer $key" -H 'Content-Type: image/png' --data-binary @"$img" \
    "$base/object/$b/src.png" >/dev/null
  rm -f "$img"
  code=$(curl -s -o /dev/null -w '%{http_code} %{content_type} %{size_download}' \
    "$base/render/image/public/$b/src.png?width=400&format=webp" || true)
  echo "render: $code"
  sleep "$settle"
  measure after-render
fi
