#!/usr/bin/env bash
# bench_rollback.sh - a crashing plugin deployed by a reload under load
# (issue 8, "Benchmark"), run by hand, never in CI.
#
# plughost with workers = 2 serves /crashy (it_crashy 1.0.0, answers "pid N")
# and /hello. wrk loads /crashy at CONNS connections for DURATION. After
# START_DELAY seconds the script copies it_crashy_always.so (9.9.9: crashes
# on every request) over crashy.so, as a careless deploy would. The
# supervisor checks the new file (it loads and inits fine), every worker
# switches, workers start crashing, and after crash_limit crashes within
# crash_window it rolls back to 1.0.0.
#
# Prints: requests, wrk socket errors (= requests lost to the crashes) and
# non-2xx; seconds from the file change to the rollback line; then a second
# wrk run of AFTER seconds on the rolled-back server, whose errors must be 0.
#
# Only 127.0.0.1; every wrk run bounded by -d and an outer timeout; a trap
# stops what this script started.
#
# Environment: DURATION=20s CONNS=64 START_DELAY=3 AFTER=5 CRASH_LIMIT=3
#   SKIP_INSTALL=1 (never apt-get)  SKIP_BUILD=1 (reuse BUILD_DIR)
#   BUILD_DIR=<repo>/build-bench-rollback  KEEP_TMP=1
set -euo pipefail

HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd -- "$HERE/../.." && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
DURATION=${DURATION:-20s}
CONNS=${CONNS:-64}
START_DELAY=${START_DELAY:-3}
AFTER=${AFTER:-5}
CRASH_LIMIT=${CRASH_LIMIT:-3}
BUILD=${BUILD_DIR:-$REPO/build-bench-rollback}
SERVERS=plughost
STARTUP_TIMEOUT=20
NEXT_PORT=18680
PIDS=()

log()  { printf '[bench] %s\n' "$*" >&2; }
warn() { printf '[bench] WARNING: %s\n' "$*" >&2; }

if [[ -z "${SKIP_INSTALL:-}" ]] && ! command -v wrk >/dev/null; then
  log "installing wrk"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends wrk >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y wrk >/dev/null; }
fi
if [[ -z "${SKIP_BUILD:-}" ]]; then
  log "building plughost and the test plugins (Release) in $BUILD"
  "$REPO/deps.sh" >/dev/null
  cmake -S "$REPO" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$BUILD" -j2 --target plughost hello it_crashy it_crashy_always >/dev/null
fi

TMP=$(mktemp -d /tmp/bench-rollback.XXXXXX)
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do stop_server "$pid"; done
  if [[ -n "${KEEP_TMP:-}" ]]; then log "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

mkdir -p "$TMP/plugins"
cp "$BUILD/plugins/hello.so" "$TMP/plugins/hello.so"
cp "$BUILD/test-plugins/it_crashy.so" "$TMP/plugins/crashy.so"
free_port
cat >"$TMP/server.ini" <<EOF
[server]
listen = 127.0.0.1:$PORT
workers = 2
plugin_dir = plugins
watch = true
crash_limit = $CRASH_LIMIT
crash_window = 60s

[route /crashy]
plugin = crashy

[route /hello]
plugin = hello
EOF
start_server "$TMP/plughost.log" "$BUILD/plughost" -c "$TMP/server.ini"
wait_http "$SRV_PID" "$PORT" /hello "$TMP/plughost.log"

secs=$(to_secs "$DURATION")
log "wrk -c$CONNS -d$DURATION on /crashy; crashy.so replaced by a crashing build after ${START_DELAY}s"
timeout $((secs + 10)) wrk -t2 -c"$CONNS" -d"$DURATION" "http://127.0.0.1:$PORT/crashy" >"$TMP/wrk1.txt" 2>&1 &
WRK=$!
sleep "$START_DELAY"
changed=$EPOCHREALTIME
cp "$BUILD/test-plugins/it_crashy_always.so" "$TMP/plugins/crashy.so"
rolled=""
for _ in $(seq 600); do
  if grep -q "reload (rollback of" "$TMP/plughost.log" && grep -q "): generation 3 serving" "$TMP/plughost.log"; then
    rolled=$EPOCHREALTIME
    break
  fi
  sleep 0.05
done
wait "$WRK" || true
log "second wrk run of ${AFTER}s on the rolled-back server"
timeout $((AFTER + 10)) wrk -t2 -c"$CONNS" -d"${AFTER}s" "http://127.0.0.1:$PORT/crashy" >"$TMP/wrk2.txt" 2>&1 || true

wrk_numbers() {  # wrk_numbers FILE -> "requests errors non2xx"
  awk '/requests in/ {req=$1}
       /Socket errors/ {gsub(",", ""); e=$4+$6+$8+$10}
       /Non-2xx/ {n=$5}
       END {printf "%s %s %s\n", req+0, e+0, n+0}' "$1"
}
read -r req1 err1 non1 < <(wrk_numbers "$TMP/wrk1.txt")
read -r req2 err2 non2 < <(wrk_numbers "$TMP/wrk2.txt")
crashes=$(grep -c ") killed by SIGSEGV" "$TMP/plughost.log" || true)
if [[ -n "$rolled" ]]; then
  until_rb=$(awk -v a="$changed" -v b="$rolled" 'BEGIN { printf "%.2f", b - a }')
else
  until_rb="never"
fi
printf '\n| run | requests | socket errors (lost) | non-2xx |\n|---|---|---|---|\n'
printf '| %s with the bad deploy | %s | %s | %s |\n' "$DURATION" "$req1" "$err1" "$non1"
printf '| %ss after the rollback | %s | %s | %s |\n' "$AFTER" "$req2" "$err2" "$non2"
printf '\nworker crashes: %s; file change -> rollback serving: %s s (crash_limit %s)\n' \
  "$crashes" "$until_rb" "$CRASH_LIMIT"
grep -E "rollback: |reload \(rollback|rejected" "$TMP/plughost.log" | sed 's/^/  log: /' | head -5
[[ -n "$rolled" && "$err2" == 0 && "$non2" == 0 ]]
