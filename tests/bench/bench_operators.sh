#!/bin/bash
# bench_operators.sh [BUILD_DIR] - the cost of the access log and the
# metrics (issue 13): /hello req/s and server CPU per request (supervisor +
# worker, user + system, from /proc) with them off and on, alternating
# off/on ROUNDS times in one run. Run by hand on an idle box; loopback
# only, each wrk run bounded by DURATION.
#   DURATION=8s CONNS=32 ROUNDS=2 WORKERS=1
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd)
DURATION=${DURATION:-8s}
CONNS=${CONNS:-32}
ROUNDS=${ROUNDS:-2}
WORKERS=${WORKERS:-1}
WORK=$(mktemp -d /tmp/plughost-bench-ops.XXXXXX)
PID=""
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT
TICK=$(getconf CLK_TCK)

# cpu_ticks PID: utime+stime of the process and its children (live ones).
cpu_ticks() {
    local total=0 p
    for p in "$1" $(pgrep -P "$1" || true); do
        [ -r "/proc/$p/stat" ] || continue
        total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat")))
    done
    echo "$total"
}

run() { # LABEL EXTRA_KEYS
    cat >"$WORK/s.ini" <<INI
[server]
listen = 127.0.0.1:0
workers = $WORKERS
plugin_dir = $BUILD/plugins
watch = false
$2
[route /hello]
plugin = hello
INI
    : >"$WORK/log"
    "$BUILD/plughost" -c "$WORK/s.ini" >"$WORK/log" 2>&1 &
    PID=$!
    for _ in $(seq 100); do grep -q "listening on" "$WORK/log" && break; sleep 0.1; done
    local port
    port=$(grep -o "listening on 127.0.0.1:[0-9]*" "$WORK/log" | sed 's/.*://')
    wrk -t1 -c"$CONNS" -d1s "http://127.0.0.1:$port/hello" >/dev/null # warm-up
    local before after out reqs rps
    before=$(cpu_ticks "$PID")
    out=$(wrk -t1 -c"$CONNS" -d"$DURATION" "http://127.0.0.1:$port/hello")
    after=$(cpu_ticks "$PID")
    reqs=$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' <<<"$out")
    rps=$(sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' <<<"$out")
    printf "%-4s %10.0f req/s  %6.2f us CPU/request  (%d requests, %d CPU ticks)\n" "$1" "$rps" \
        "$(echo "($after - $before) * 1000000 / $TICK / $reqs" | bc -l)" "$reqs" "$((after - before))"
    kill "$PID"; wait "$PID" || true; PID=""
    [ -z "$3" ] || wc -l <"$3" | sed 's/^/     access log lines: /'
}

echo "plughost $("$BUILD/plughost" --version | cut -d' ' -f2), workers=$WORKERS, wrk -t1 -c$CONNS -d$DURATION, $(nproc) cores"
for r in $(seq "$ROUNDS"); do
    run off "" ""
    rm -f "$WORK/access.log"
    run on "access_log = $WORK/access.log
admin_listen = 127.0.0.1:0" "$WORK/access.log"
done
