#!/usr/bin/env bash
# bench_proxy.sh — issue 11's proxy numbers, run by hand: a base commit
# against the working tree, in one run on one machine.
#
#   memory  CONCURRENT clients (curl, full speed) each fetch a BODY_MB body
#           through the bundled `proxy` plugin at once; the worker's VmRSS is
#           sampled every 0.1 s; the table gives it idle and at its peak.
#   hello   wrk -t1 -c64 -d DURATION on /hello, ROUNDS rounds interleaved
#           (base, new, base, new, ...), each on a fresh server.
#
# The upstream is a small Python server (python3, standard library)
# generating the body (no files); everything stays on 127.0.0.1; every
# server runs with workers = 1 (a supervisor and one worker process).
#
# Environment (all optional):
#   BASE=216743e        commit to compare with (exported with git archive)
#   CONCURRENT=20 BODY_MB=60 DURATION=10s ROUNDS=2
#   BASE_BUILD=DIR NEW_BUILD=DIR  reuse Release builds (skip building)
#   PORT_BASE=18780 STARTUP_TIMEOUT=20 KEEP_TMP=1
# Exit status: 0 done; 1 setup failed; 3 a build failed; 4 a proxied body
# came back short or a server died.
set -euo pipefail

HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_NEW=$(cd -- "$HERE/../.." && pwd)
BASE=${BASE:-216743e}
CONCURRENT=${CONCURRENT:-20}
BODY_MB=${BODY_MB:-60}
DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-2}
NEXT_PORT=${PORT_BASE:-18780}
STARTUP_TIMEOUT=${STARTUP_TIMEOUT:-20}
PIDS=()
TMP=$(mktemp -d)

log() { printf '[bench_proxy] %s\n' "$*" >&2; }
warn() { printf '[bench_proxy] WARNING: %s\n' "$*" >&2; }
die() { printf '[bench_proxy] ERROR: %s\n' "$*" >&2; exit 1; }

# shellcheck source=lib.sh
. "$HERE/lib.sh"

cleanup() {
  local p
  for p in "${PIDS[@]}"; do stop_server "$p" >/dev/null 2>&1 || true; done
  if [[ -n "${KEEP_TMP:-}" ]]; then log "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT INT TERM

command -v wrk >/dev/null || die "wrk is missing (apt-get install wrk)"
command -v python3 >/dev/null || die "python3 is missing"

# ---------------------------------------------------------------- builds
build_one() { # build_one NAME REPO PRESET_BUILD -> sets BIN_<NAME>
  local name=$1 repo=$2 preset=$3
  if [[ -n "$preset" ]]; then
    SKIP_BUILD=1 REPO=$repo BUILD=$preset build_plughost || exit 3
  else
    REPO=$repo BUILD="$TMP/build-$name" build_plughost || exit 3
  fi
  printf -v "BIN_$name" '%s' "$PLUGHOST_BIN"
}
if [[ -z "${BASE_BUILD:-}" ]]; then
  mkdir -p "$TMP/src-base"
  git -C "$REPO_NEW" archive "$BASE" | tar -x -C "$TMP/src-base"
fi
build_one base "$TMP/src-base" "${BASE_BUILD:-}"
build_one new "$REPO_NEW" "${NEW_BUILD:-}"

# ---------------------------------------------------------------- upstream
cat >"$TMP/upstream.py" <<'EOF'
import socket, sys, threading
port, size = int(sys.argv[1]), int(sys.argv[2])
block = bytes(i % 251 for i in range(251 * 256))  # 64,256 bytes, pattern-aligned
def serve(c):
    try:
        while True:
            head = b''
            while b'\r\n\r\n' not in head:
                d = c.recv(65536)
                if not d:
                    return
                head += d
            c.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n' % size)
            left = size
            while left:
                n = min(left, len(block)); c.sendall(block[:n]); left -= n
    except OSError:
        pass
    finally:
        c.close()
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', port)); s.listen(128)
while True:
    c, _ = s.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()
EOF
free_port; UP_PORT=$PORT
start_server "$TMP/upstream.log" python3 "$TMP/upstream.py" "$UP_PORT" $((BODY_MB << 20))
UP_PID=$SRV_PID
sleep 0.5

# ---------------------------------------------------------------- servers
# start_plughost NAME -> SRV_PID, PORT (a proxy route /px and /hello)
start_plughost() {
  local name=$1 bin
  bin=BIN_$name; bin=${!bin}
  free_port
  cat >"$TMP/$name.ini" <<EOF
[server]
listen = 127.0.0.1:$PORT
workers = 1
plugin_dir = $(dirname "$bin")/plugins
watch = false
log_level = warn
[route /hello]
plugin = hello
[route /px]
plugin = proxy
upstream = http://127.0.0.1:$UP_PORT/body
timeout = 60s
EOF
  start_server "$TMP/$name-$PORT.log" "$bin" -c "$TMP/$name.ini"
  wait_http "$SRV_PID" "$PORT" /hello "$TMP/$name-$PORT.log" || exit 4
}

worker_of() { # the supervisor's one child
  local kids
  kids=$(cat "/proc/$1/task/$1/children" 2>/dev/null || true)
  echo "${kids%% *}"
}

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

status=0
declare -A IDLE PEAK SECS
for name in base new; do
  start_plughost "$name"
  pid=$SRV_PID
  worker=$(worker_of "$pid")
  IDLE[$name]=$(rss_kib "$worker")
  peak=${IDLE[$name]}
  t0=$(date +%s.%N)
  cpids=()
  for i in $(seq "$CONCURRENT"); do
    curl -s -m 300 -o /dev/null -w '%{size_download}\n' "http://127.0.0.1:$PORT/px" >"$TMP/$name-curl-$i" &
    cpids+=($!)
  done
  while :; do
    alive=0
    for c in "${cpids[@]}"; do kill -0 "$c" 2>/dev/null && alive=1; done
    r=$(rss_kib "$worker"); ((r > peak)) && peak=$r
    ((alive)) || break
    sleep 0.1
  done
  wait "${cpids[@]}" || true
  SECS[$name]=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  PEAK[$name]=$peak
  for i in $(seq "$CONCURRENT"); do
    got=$(cat "$TMP/$name-curl-$i")
    if [[ "$got" != $((BODY_MB << 20)) ]]; then
      warn "$name: client $i got $got bytes of $((BODY_MB << 20))"
      status=4
    fi
  done
  stop_server "$pid"
done

declare -A RPS
for round in $(seq "$ROUNDS"); do
  for name in base new; do
    start_plughost "$name"
    out=$(timeout 60 wrk -t1 -c64 -d "$DURATION" "http://127.0.0.1:$PORT/hello" 2>&1 || true)
    rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    RPS[$name]="${RPS[$name]:-} ${rps:-?}"
    stop_server "$SRV_PID"
  done
done
stop_server "$UP_PID"

printf '\n%d concurrent proxied %d MB bodies (curl at full speed), worker VmRSS in MiB; then /hello, wrk -t1 -c64 -d%s, req/s per round\n' \
  "$CONCURRENT" "$BODY_MB" "$DURATION"
printf '%-6s %-10s %10s %10s %8s   %s\n' build commit "idle MiB" "peak MiB" "secs" "/hello req/s"
for name in base new; do
  commit=$BASE
  [[ $name == new ]] && commit="$(git -C "$REPO_NEW" rev-parse --short HEAD)+wt"
  printf '%-6s %-10s %10s %10s %8s  %s\n' "$name" "$commit" "$(mib "${IDLE[$name]}")" "$(mib "${PEAK[$name]}")" \
    "${SECS[$name]}" "${RPS[$name]}"
done
exit $status
