#!/usr/bin/env bash
# bench_reload.sh — hot reload under constant load (issue 3, "Benchmark"), run by hand.
#
# For plughost and then nginx, in the same run on the same machine:
#   - wrk -t THREADS -c CONNS -d DURATION --latency against GET /app, with
#     tests/bench/reload/count.lua counting requests sent vs answered;
#   - meanwhile RELOADS reloads, one after the other:
#       plughost (watch = true, the file change is the trigger):
#         odd:  server.ini edited in place (greeting = g<N>)
#         even: app.so swapped between it_v1.so (async) and it_v2.so (sync)
#               by an atomic rename from a temp name that does not end in .so
#       nginx: nginx.conf edited in place (return 200 "g<N>") + nginx -s reload
#   - a probe (tests/bench/reload/reload_driver.py) polls GET /app on its own
#     keep-alive connection as fast as it can and measures, with
#     CLOCK_MONOTONIC, file change -> first response with the new body. The
#     next reload starts once the new body was seen (at most OBSERVE_TIMEOUT)
#     plus PAUSE.
# Prints one table (reloads, requests, req/s, non-2xx, socket errors,
# sent-but-unanswered, requests in flight when wrk stopped, change->new-code
# median/p99/max) and per-server details (probe, server log, nginx signal).
#
# All traffic goes to 127.0.0.1; wrk is bounded by -d and an outer timeout;
# a trap stops every process this script started.
#
# Environment (all optional):
#   DURATION=60s        wrk duration of each row (reloads must fit in it)
#   RELOADS=100         reloads per row
#   CONNS=64 THREADS=2  wrk connections and threads
#   WORKERS=2           plughost worker processes (every .so swap is checked in a
#                       throwaway process first, then all workers switch)
#   WRK_TIMEOUT=2s      wrk --timeout (wrk's default)
#   START_DELAY=2       seconds of load before the first reload
#   STOP_MARGIN=2       no reload starts later than this before wrk's end
#   OBSERVE_TIMEOUT=5   seconds to wait for the new body before going on
#   PAUSE=0.1           seconds between one reload being seen and the next
#   SERVERS="plughost nginx"
#   PORT_BASE=18480     first port tried (each server takes the next free one)
#   SRC=worktree        build the working tree as it is; SRC=head builds a clean
#                       `git archive HEAD` export instead (extracted to
#                       <build>/src, built in <build>/build; default build folder
#                       then <repo>/build-bench-reload-head) — for measuring the
#                       last commit while server/ has work in progress
#   BUILD_DIR=DIR       build folder (default <repo>/build-bench-reload)
#   SKIP_BUILD=1        reuse the build folder as it is
#   SKIP_INSTALL=1      never call apt-get
#   KEEP_TMP=1          keep the temp folder (configs, logs, wrk output, JSON)
#   RESULTS=FILE        also write the table to FILE
#   VERBOSE=1           print every reload's latency
# Exit status: 0 done; 1 setup failed; 3 plughost could not be built/started;
# 4 plughost missed the goal (unanswered/errored/non-2xx request, unseen
# reload, rejected reload or server died) — the table says which.
set -euo pipefail

HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
REPO=$(cd -- "$HERE/../.." && pwd)
WORKERS=${WORKERS:-2}
SRC=${SRC:-worktree}
case "$SRC" in
  worktree) SRC_DIR=$REPO; BUILD=${BUILD_DIR:-$REPO/build-bench-reload} ;;
  head)     BUILD_ROOT=${BUILD_DIR:-$REPO/build-bench-reload-head}
            SRC_DIR=$BUILD_ROOT/src; BUILD=$BUILD_ROOT/build ;;
  *) echo "SRC must be worktree or head" >&2; exit 2 ;;
esac

DURATION=${DURATION:-60s}
RELOADS=${RELOADS:-100}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
WRK_TIMEOUT=${WRK_TIMEOUT:-2s}
START_DELAY=${START_DELAY:-2}
STOP_MARGIN=${STOP_MARGIN:-2}
OBSERVE_TIMEOUT=${OBSERVE_TIMEOUT:-5}
PAUSE=${PAUSE:-0.1}
SERVERS=${SERVERS:-plughost nginx}
PORT_BASE=${PORT_BASE:-18480}
STARTUP_TIMEOUT=${STARTUP_TIMEOUT:-20}
PY=${PY:-python3}

log()  { printf '[bench-reload] %s\n' "$*" >&2; }
warn() { printf '[bench-reload] WARNING: %s\n' "$*" >&2; }
die()  { printf '[bench-reload] ERROR: %s\n' "$*" >&2; exit 1; }

DUR_S=$(to_secs "$DURATION")
[[ "$DUR_S" =~ ^[0-9]+$ && "$DUR_S" -ge 5 ]] || die "DURATION must be at least 5s (got $DURATION)"

# ---------------------------------------------------------------- packages
need_pkgs=()
command -v wrk >/dev/null     || need_pkgs+=(wrk)
if want nginx && ! command -v nginx >/dev/null; then need_pkgs+=(nginx-light); fi
command -v "$PY" >/dev/null   || { need_pkgs+=(python3); PY=python3; }
command -v setsid >/dev/null  || need_pkgs+=(util-linux)
command -v pgrep >/dev/null   || need_pkgs+=(procps)
if [[ -z ${SKIP_BUILD:-} ]]; then
  for c in cmake cc pkg-config; do command -v $c >/dev/null || { need_pkgs+=(build-essential cmake pkg-config); break; }; done
  for p in libevent-dev node-llhttp libcjson-dev libinih-dev libcmocka-dev; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need_pkgs+=("$p")
  done
fi
if ((${#need_pkgs[@]})); then
  [[ -n ${SKIP_INSTALL:-} ]] && die "missing: ${need_pkgs[*]} (SKIP_INSTALL is set)"
  log "installing: ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >&2 \
    || die "apt-get install ${need_pkgs[*]} failed"
fi
# Debian's nginx package starts a system nginx on :80; it is not ours and is left alone.

# ---------------------------------------------------------------- temp + trap
TMP=$(mktemp -d /tmp/bench-reload.XXXXXX)
PH_PID=""
NGINX_DIR=""
DRIVER_PID=""
# shellcheck disable=SC2317  # invoked by the trap
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n $DRIVER_PID ]] && kill -0 "$DRIVER_PID" 2>/dev/null; then
    # SIGTERM reaches the driver through `timeout`; the driver then stops wrk
    kill -TERM "$DRIVER_PID" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$DRIVER_PID" 2>/dev/null || break; sleep 0.1; done
  fi
  if [[ -n $PH_PID ]] && kill -0 "$PH_PID" 2>/dev/null; then
    kill -TERM -- "-$PH_PID" 2>/dev/null || kill -TERM "$PH_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$PH_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$PH_PID" 2>/dev/null || true
  fi
  if [[ -n $NGINX_DIR ]]; then stop_nginx "$NGINX_DIR"; fi
  if [[ -n ${KEEP_TMP:-} ]]; then log "kept $TMP"; else rm -rf "$TMP"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

stop_nginx() {   # TERM the master (it TERMs its workers, old ones included), KILL what is left after 5 s
  local dir=$1 master kids
  [[ -s $dir/nginx.pid ]] || return 0
  master=$(cat "$dir/nginx.pid" 2>/dev/null) || return 0
  [[ $master =~ ^[0-9]+$ ]] && kill -0 "$master" 2>/dev/null || return 0
  kids=$(pgrep -P "$master" || true)
  kill -TERM "$master" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$master" 2>/dev/null || break; sleep 0.1; done
  # shellcheck disable=SC2086
  kill -KILL "$master" $kids 2>/dev/null || true
  rm -f "$dir/nginx.pid"
}

free_port() {   # first port >= $1 that nothing listens on and that we can bind
  "$PY" - "$1" <<'EOF'
import socket, sys
p = int(sys.argv[1])
while p < 65000:
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); print(p); break
    except OSError:
        p += 1
    finally:
        s.close()
EOF
}

# ---------------------------------------------------------------- build
PH_STATUS=ok
PLUGHOST_BIN=$BUILD/plughost
V1=$BUILD/test-plugins/it_v1.so
V2=$BUILD/test-plugins/it_v2.so
HELLO=$BUILD/plugins/hello.so
if want plughost; then
  if [[ -z ${SKIP_BUILD:-} ]]; then
    if [[ $SRC == head ]]; then
      # a fresh export each time; git archive keeps the commit's mtimes, so
      # make only rebuilds what changed between commits
      HEAD_SHA=$(git -C "$REPO" rev-parse HEAD) || die "not a git checkout: $REPO"
      rm -rf "$SRC_DIR"; mkdir -p "$SRC_DIR"
      git -C "$REPO" archive --format=tar "$HEAD_SHA" | tar -x -C "$SRC_DIR" || die "git archive HEAD failed"
      echo "$HEAD_SHA" >"$SRC_DIR/.bench-commit"
    fi
    log "building plughost (Release) from $SRC_DIR in $BUILD"
    if cmake -S "$SRC_DIR" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=ON >"$TMP/cmake.log" 2>&1 \
       && cmake --build "$BUILD" -j2 --target plughost hello it_v1 it_v2 >>"$TMP/cmake.log" 2>&1; then
      :
    else
      # The test tree is shared with other work in progress; the benchmark only
      # needs the binary, hello.so and the two it_version builds.
      warn "the BUILD_TESTING=ON build failed (see below); building plughost without tests and the two test plugins with cc"
      tail -n 15 "$TMP/cmake.log" >&2
      if cmake -S "$SRC_DIR" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >>"$TMP/cmake.log" 2>&1 \
         && cmake --build "$BUILD" -j2 --target plughost hello >>"$TMP/cmake.log" 2>&1; then
        mkdir -p "$TMP/test-plugins"
        V1=$TMP/test-plugins/it_v1.so V2=$TMP/test-plugins/it_v2.so
        for v in 1 2; do
          cc -std=c11 -O2 -fPIC -shared -fvisibility=hidden -Wall -Wextra -DIT_VERSION=$v \
             -I"$SRC_DIR/sdk/include" "$SRC_DIR/tests/integration/plugins/it_version.c" \
             -o "$TMP/test-plugins/it_v$v.so" 2>>"$TMP/cmake.log" || PH_STATUS="cc it_version.c failed"
        done
      else
        tail -n 20 "$TMP/cmake.log" >&2
        PH_STATUS="build failed"
      fi
    fi
  fi
  for f in "$PLUGHOST_BIN" "$V1" "$V2" "$HELLO"; do
    if [[ $PH_STATUS == ok && ! -e $f ]]; then PH_STATUS="missing $f"; fi
  done
  [[ $PH_STATUS == ok ]] || warn "plughost row skipped: $PH_STATUS"
fi

LOAD_START=$(cut -d' ' -f1 /proc/loadavg)
if awk -v l="$LOAD_START" 'BEGIN { exit !(l >= 1) }'; then
  warn "machine busy at start: load average $LOAD_START — absolute numbers are skewed (compare the rows of one run)"
fi

WRK_BASE=(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --timeout "$WRK_TIMEOUT" --latency -s "$HERE/reload/count.lua")
DRIVER_BASE=("$PY" "$HERE/reload/reload_driver.py" run --reloads "$RELOADS" --duration-s "$DUR_S"
             --start-delay "$START_DELAY" --stop-margin "$STOP_MARGIN" --observe-timeout "$OBSERVE_TIMEOUT"
             --pause "$PAUSE" --connections "$CONNS" --threads "$THREADS")
if [[ -n ${VERBOSE:-} ]]; then DRIVER_BASE+=(--verbose); fi
DRIVER_TIMEOUT=$(( DUR_S + 120 ))
RESULT_FILES=()
EXIT=0

# The driver runs in the background and is waited for, so that Ctrl-C or a
# SIGTERM to this script interrupts the wait and the trap stops everything
# (bash would otherwise defer the trap until the foreground command ends).
run_driver() {
  timeout -k 5 "$DRIVER_TIMEOUT" "${DRIVER_BASE[@]}" "$@" &
  DRIVER_PID=$!
  local rc=0
  wait "$DRIVER_PID" || rc=$?
  DRIVER_PID=""
  return "$rc"
}

# ---------------------------------------------------------------- plughost
run_plughost() {
  local dir=$TMP/plughost port
  mkdir -p "$dir/plugins"
  port=$(free_port "$PORT_BASE")
  cp "$V1" "$dir/plugins/app.so"
  cp "$HELLO" "$dir/plugins/hello.so"
  cat >"$dir/server.ini" <<EOF
; bench_reload.sh: /app is reloaded, /hello is an unchanged plugin carried over
[server]
listen = 127.0.0.1:$port
workers = $WORKERS
plugin_dir = plugins
watch = true

[route /app]
plugin = app
greeting = g0

[route /hello]
plugin = hello
EOF
  log "plughost: starting on 127.0.0.1:$port"
  setsid "$PLUGHOST_BIN" -c "$dir/server.ini" >"$dir/plughost.log" 2>&1 &
  PH_PID=$!
  local t=0
  until grep -q "listening on" "$dir/plughost.log" 2>/dev/null; do
    if ! kill -0 "$PH_PID" 2>/dev/null || (( t >= STARTUP_TIMEOUT * 10 )); then
      warn "plughost did not start:"; cat "$dir/plughost.log" >&2; EXIT=3; return 0
    fi
    sleep 0.1; t=$((t + 1))
  done
  log "plughost: ${RELOADS} reloads under wrk -c$CONNS -d$DURATION"
  run_driver --name plughost --kind plughost --port "$port" \
    --ini "$dir/server.ini" --plugin-dir "$dir/plugins" --v1 "$V1" --v2 "$V2" \
    --server-log "$dir/plughost.log" --server-pid "$PH_PID" \
    --out "$TMP/plughost.json" --wrk-out "$dir/wrk.txt" \
    -- timeout -k 5 $((DUR_S + 30)) "${WRK_BASE[@]}" "http://127.0.0.1:$port/app" \
    || warn "plughost: driver exited with $?"
  RESULT_FILES+=("$TMP/plughost.json")
  # graceful stop: SIGTERM drains, then the exit status and the log's tail
  if kill -0 "$PH_PID" 2>/dev/null; then
    kill -TERM "$PH_PID" 2>/dev/null || true
    local rc=0
    timeout 15 tail --pid="$PH_PID" -f /dev/null || true
    wait "$PH_PID" || rc=$?
    log "plughost: stopped with SIGTERM, exit status $rc"
  else
    local rc=0; wait "$PH_PID" || rc=$?
    warn "plughost died during the run (exit status $rc); last log lines:"
    tail -n 20 "$dir/plughost.log" >&2
    EXIT=4
  fi
  PH_PID=""
}

# ---------------------------------------------------------------- nginx
run_nginx() {
  local dir=$TMP/nginx port
  mkdir -p "$dir/logs"
  port=$(free_port $((PORT_BASE + 1)))
  cat >"$dir/nginx.conf" <<EOF
# bench_reload.sh: daemonized (nginx -s reload finds the master by its pid file)
master_process on;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log notice;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    default_type text/plain;
    server {
        listen 127.0.0.1:$port;
        location = /app { return 200 "g0"; }
    }
}
EOF
  log "nginx: starting on 127.0.0.1:$port"
  NGINX_DIR=$dir
  if ! nginx -c "$dir/nginx.conf" -p "$dir/" -e "$dir/error.log" >"$dir/start.log" 2>&1; then
    warn "nginx did not start:"; cat "$dir/start.log" "$dir/error.log" >&2 2>/dev/null; return 0
  fi
  local t=0
  until [[ -s $dir/nginx.pid ]]; do
    (( t >= STARTUP_TIMEOUT * 10 )) && { warn "nginx wrote no pid file"; return 0; }
    sleep 0.1; t=$((t + 1))
  done
  local master; master=$(cat "$dir/nginx.pid")
  log "nginx: ${RELOADS} reloads under wrk -c$CONNS -d$DURATION"
  run_driver --name nginx --kind nginx --port "$port" \
    --nginx-conf "$dir/nginx.conf" --nginx-prefix "$dir/" --nginx-err "$dir/error.log" \
    --server-log "$dir/error.log" --server-pid "$master" \
    --out "$TMP/nginx.json" --wrk-out "$dir/wrk.txt" \
    -- timeout -k 5 $((DUR_S + 30)) "${WRK_BASE[@]}" "http://127.0.0.1:$port/app" \
    || warn "nginx: driver exited with $?"
  RESULT_FILES+=("$TMP/nginx.json")
  log "nginx: processes left under the master at the end: $(pgrep -P "$master" | wc -l)"
  stop_nginx "$dir"
  NGINX_DIR=""
}

if want plughost; then
  if [[ $PH_STATUS == ok ]]; then run_plughost; else EXIT=3; fi
fi
if want nginx; then run_nginx; fi

# ---------------------------------------------------------------- report
{
  echo "bench_reload: wrk -t$THREADS -c$CONNS -d$DURATION --latency (+count.lua), $RELOADS reloads per server," \
       "one reload at a time (next after the new body is seen, then ${PAUSE}s)"
  if [[ $SRC == head ]]; then src_desc="commit $(cut -c1-7 "$SRC_DIR/.bench-commit" 2>/dev/null || echo '?') (SRC=head: clean export)"
  else src_desc="working tree at $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null)$(
        if [[ -n $(git -C "$REPO" status --porcelain -- server sdk plugins 2>/dev/null) ]]; then
          echo ' with uncommitted changes in server/ sdk/ plugins/'; fi)"; fi
  echo "plughost: $src_desc,"\
       "odd reloads edit server.ini in place, even ones rename it_v1/it_v2 over app.so (watch = true; settle 20 ms after a close/rename)"
  echo "nginx:    $(nginx -v 2>&1 | sed 's/^nginx version: //'), every reload edits nginx.conf in place + nginx -s reload"
  echo "machine:  $(nproc) cores, $(uname -r); $(date -u '+%Y-%m-%d %H:%M UTC');" \
       "load average $LOAD_START at start, $(cut -d' ' -f1 /proc/loadavg) at end"
  echo
  "$PY" "$HERE/reload/reload_driver.py" table "${RESULT_FILES[@]}"
  cat <<'EOF'
unanswered      requests wrk wrote that got no response, beyond the ones still in flight
                when wrk stopped (count.lua: sent - answered, per thread, minus at most one
                per connection); "(+<=N?)" adds read/write errors and timeouts, each of which
                may have cost a sent request.
in flight@stop  sent - answered that the per-connection bound explains: requests written
                just before wrk's deadline (at most CONNS, pipeline depth 1).
change->new     file change complete (close/rename) -> first probe response with the new body;
                for plughost this includes the watcher's settle time (20 ms after a closed
                write or a rename, 250 ms while a file may still be written), for nginx the
                `nginx -s reload` command and the old worker closing the probe's connection.
EOF
} | tee "$TMP/table.txt"
if [[ -n ${RESULTS:-} ]]; then cp "$TMP/table.txt" "$RESULTS"; fi

# goal check for plughost
if [[ -f $TMP/plughost.json ]]; then
  "$PY" - "$TMP/plughost.json" <<'EOF' || EXIT=4
import json, sys
r = json.load(open(sys.argv[1]))
w, p, lg = r.get("wrk", {}), r.get("probe", {}), r.get("log", {})
s = w.get("sock", {})
bad = []
if "lost" not in w: bad.append("no wrk counts")
if w.get("lost", 0): bad.append("%d unanswered" % w["lost"])
if w.get("non2xx", 0): bad.append("%d non-2xx" % w["non2xx"])
if sum(s.values()): bad.append("socket errors %s" % s)
if p.get("unanswered", 0) or p.get("non200", 0) or p.get("flaps", 0): bad.append("probe %s" % {k: p[k] for k in ("unanswered", "non200", "flaps")})
if r.get("reloads_seen", 0) != r.get("reloads_done", -1): bad.append("unseen reloads")
if lg.get("rejected", 0): bad.append("%d rejected reloads" % lg["rejected"])
if r.get("server_alive") is False: bad.append("server died")
if bad:
    print("[bench-reload] plughost missed the zero-loss goal: " + "; ".join(bad), file=sys.stderr)
    sys.exit(1)
EOF
fi
exit "$EXIT"
