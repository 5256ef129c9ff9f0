#!/usr/bin/env bash
# bench_async.sh — issue 4's benchmark, run by hand: the seed's argument
# measured. A handler that waits on another system (an upstream adding
# LATENCY = 50 ms) served
#
#   proxy    plughost, the bundled async `proxy` plugin (the host's fetch:
#            no thread waits on the upstream)
#   sync     plughost, tests/bench/async/fetch_sync.c: a SYNC plugin doing
#            the same call with a blocking socket client on a pool thread
#            (sync_threads = SYNC_THREADS, 40 like Starlette's pool)
#   uvicorn  uvicorn+FastAPI `async def` (tests/bench/async/fastapi_proxy.py)
#            with aiohttp's client (Debian python3-aiohttp), or, when that
#            cannot be installed, its `await asyncio.sleep(LATENCY)` stand-in
#
# at CONNS (10, 100, 1000) connections; plus the upstream alone at
# UPSTREAM_CONNS (1000) to show that it is not the bottleneck, and the sync
# plugin with SYNC_THREADS_EXTRA (200) threads at SYNC_EXTRA_CONNS (1000).
#
# The upstream is a second plughost serving [route /slow] with the bundled
# `sleep_async` plugin (`seconds = LATENCY`, a small JSON after a loop timer).
# Every row starts a fresh upstream and a fresh front server on free loopback
# ports, checks that the front answers 200, runs
#   wrk -t THREADS -c CONNS -d DURATION --timeout WRK_TIMEOUT --latency
# (bounded by an outer `timeout`), samples CPU, memory and the upstream's
# connection count while it runs, then stops both (SIGTERM to the process
# group, SIGKILL after 5 s). A trap stops whatever is left on exit/Ctrl-C.
# All traffic stays on 127.0.0.1.
#
# Environment (all optional):
#   DURATION=15s          wrk duration of each row
#   WRK_TIMEOUT=10s       wrk --timeout (also the front routes' `timeout`)
#   THREADS=2             wrk threads
#   CONNS="10 100 1000"   connections of the main rows
#   LATENCY=0.05          seconds the upstream waits before answering
#   SYNC_THREADS=40       sync_threads of the front for the `sync` rows
#   SYNC_THREADS_EXTRA=200  one more `sync` row with this many threads ("" = none)
#   SYNC_EXTRA_CONNS=1000   ... at these connections
#   UPSTREAM_CONNS=1000   connections of the upstream-alone row ("" = none)
#   POOL_LIMIT=256        aiohttp connection pool bound (plughost's fetch
#                         allows FETCH_MAX_CONNS = 256 per upstream)
#   SERVERS="upstream proxy sync uvicorn"   subset of rows to run
#   PORT_BASE=18680       first port tried; each start takes the next free one
#   SRC=auto              auto: build the working tree, and if that fails a
#                         clean `git archive HEAD` export; worktree / head:
#                         only that one. The table header says which.
#   BUILD_DIR=DIR         build folder (default <repo>/build-bench-async; the
#                         HEAD export goes to <repo>/build-bench-async-head)
#   SKIP_BUILD=1          reuse the build folder as it is
#   SKIP_INSTALL=1        never call apt-get
#   STARTUP_TIMEOUT=20    seconds a server gets to answer after start
#   KEEP_TMP=1            keep the temp folder (configs, logs, raw wrk output)
#   RESULTS=FILE          also write the table and details to FILE
#   PY=/usr/bin/python3   Debian's python3 (FastAPI, aiohttp live there)
# Exit status: 0 done; 1 setup failed; 3 plughost could not be built;
# 4 a plughost row had non-2xx responses, socket errors, warn/error log
# lines, or a server died (the details say which).
set -euo pipefail

# ---------------------------------------------------------------- settings
HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
REPO=$(cd -- "$HERE/../.." && pwd)
SRC=${SRC:-auto}
case "$SRC" in auto|worktree|head) ;; *) echo "SRC must be auto, worktree or head" >&2; exit 2 ;; esac

DURATION=${DURATION:-15s}
WRK_TIMEOUT=${WRK_TIMEOUT:-10s}
THREADS=${THREADS:-2}
CONNS=${CONNS:-10 100 1000}
LATENCY=${LATENCY:-0.05}
SYNC_THREADS=${SYNC_THREADS:-40}
SYNC_THREADS_EXTRA=${SYNC_THREADS_EXTRA-200}
SYNC_EXTRA_CONNS=${SYNC_EXTRA_CONNS:-1000}
UPSTREAM_CONNS=${UPSTREAM_CONNS-1000}
POOL_LIMIT=${POOL_LIMIT:-256}
SERVERS=${SERVERS:-upstream proxy sync uvicorn}
PORT_BASE=${PORT_BASE:-18680}
STARTUP_TIMEOUT=${STARTUP_TIMEOUT:-20}
PY=${PY:-/usr/bin/python3}

log()  { printf '[bench-async] %s\n' "$*" >&2; }
warn() { printf '[bench-async] WARNING: %s\n' "$*" >&2; }
die()  { printf '[bench-async] ERROR: %s\n' "$*" >&2; exit 1; }

DUR_S=$(to_secs "$DURATION")
TMO_S=$(to_secs "$WRK_TIMEOUT")
[[ "$DUR_S" =~ ^[0-9]+$ && "$DUR_S" -ge 2 ]] || die "DURATION must be at least 2s (got $DURATION)"
[[ "$TMO_S" =~ ^[0-9]+$ && "$TMO_S" -ge 1 ]] || die "WRK_TIMEOUT must be whole seconds (got $WRK_TIMEOUT)"

# ---------------------------------------------------------------- packages
PKGS=(wrk curl procps iproute2 util-linux git build-essential cmake pkg-config
      libevent-dev node-llhttp libcjson-dev libinih-dev python3-fastapi python3-uvicorn
      python3-aiohttp)
install_missing() {
  local missing=() p
  for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  if [[ -n "${SKIP_INSTALL:-}" ]]; then
    warn "missing packages (SKIP_INSTALL set, not installing): ${missing[*]}"
    return 0
  fi
  local sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { warn "missing ${missing[*]} and not root (no sudo)"; return 0; }
    sudo=(sudo)
  fi
  log "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
    "${sudo[@]}" apt-get update -q >/dev/null 2>&1 || true
    # one by one, so that one unavailable package (python3-aiohttp) does not
    # stop the others; what is still missing is reported where it matters
    for p in "${missing[@]}"; do
      "${sudo[@]}" apt-get install -y --no-install-recommends "$p" >/dev/null 2>&1 \
        || warn "apt-get install $p failed"
    done
  fi
}

# ---------------------------------------------------------------- temp + cleanup
TMP=$(mktemp -d "${TMPDIR:-/tmp}/plughost-bench-async.XXXXXX")
PIDS=()          # process-group leaders we started (each via setsid)
WRK_PID=""


stop_all_on_exit

# ---------------------------------------------------------------- ports
NEXT_PORT=$PORT_BASE

mem_kib() {      # mem_kib PID FIELD -> sum of FIELD (VmRSS/VmHWM) over the tree
  local sum=0 p v
  for p in $(tree_pids "$1"); do
    v=$(awk -v f="$2:" '$1 == f { print $2 }' "/proc/$p/status" 2>/dev/null || true)
    sum=$((sum + ${v:-0}))
  done
  echo "$sum"
}
nthreads() {     # threads of the tree
  local sum=0 p v
  for p in $(tree_pids "$1"); do
    v=$(awk '$1 == "Threads:" { print $2 }' "/proc/$p/status" 2>/dev/null || true)
    sum=$((sum + ${v:-0}))
  done
  echo "$sum"
}
CLK_TCK=$(getconf CLK_TCK)



# ---------------------------------------------------------------- build
PH_STATUS="not built"
PH_SRC_DESC=""
PROXY_DESC=""
PLUGHOST_BIN=""
PLUGIN_DIR=""       # sleep_async.so, proxy.so
SDK_INCLUDE=""      # the header fetch_sync.c is built against
FETCH_MAX_CONNS=""  # from the measured server/fetch.c

# build_tree SRCDIR BUILDDIR LOG : Release, no tests; plughost + sleep_async
# required, proxy built when the tree has it (else compiled with cc from the
# working tree's plugins/proxy). Returns 0 or 1.
build_tree() {
  local src=$1 build=$2 blog=$3
  if [[ -z "${SKIP_BUILD:-}" ]]; then
    log "building plughost (Release) from $src in $build"
    if ! { cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
           && cmake --build "$build" -j2 --target plughost sleep_async; } >"$blog" 2>&1; then
      warn "build of $src FAILED; the errors:"
      grep -E -A3 'error|Error' "$blog" | head -n 30 >&2 || tail -n 20 "$blog" >&2
      return 1
    fi
    if [[ -d "$src/plugins/proxy" ]] && cmake --build "$build" -j2 --target proxy >>"$blog" 2>&1; then
      PROXY_DESC="plugins/proxy of the same tree"
    else
      rm -f "$build/plugins/proxy.so"
    fi
  fi
  [[ -x "$build/plughost" ]] || { warn "no plughost binary in $build"; return 1; }
  [[ -e "$build/plugins/sleep_async.so" ]] || { warn "no sleep_async.so in $build/plugins"; return 1; }
  if [[ ! -e "$build/plugins/proxy.so" && -f "$REPO/plugins/proxy/proxy.c" ]]; then
    # e.g. SRC=head while proxy is not committed yet: the working tree's
    # plugin, built out of tree against the measured tree's SDK header
    if cc -std=c11 -O2 -fPIC -shared -fvisibility=hidden -I"$src/sdk/include" \
          -I"$REPO/plugins/common" "$REPO/plugins/proxy/proxy.c" -o "$build/plugins/proxy.so" \
          >>"$blog" 2>&1; then
      PROXY_DESC="working tree's plugins/proxy/proxy.c built with cc against $src/sdk/include"
    else
      warn "cc of $REPO/plugins/proxy/proxy.c failed:"; tail -n 10 "$blog" >&2
    fi
  elif [[ -z "$PROXY_DESC" && -e "$build/plugins/proxy.so" ]]; then
    PROXY_DESC="$build/plugins/proxy.so (SKIP_BUILD)"
  fi
  if [[ -f "$REPO/plugins/proxy/proxy.c" && -n $(git -C "$REPO" status --porcelain -- plugins/proxy 2>/dev/null) ]]; then
    PROXY_DESC="$PROXY_DESC; plugins/proxy has uncommitted changes in the working tree, proxy.c sha256 $(sha256sum "$REPO/plugins/proxy/proxy.c" | cut -c1-12)"
  fi
  PLUGHOST_BIN=$build/plughost
  PLUGIN_DIR=$build/plugins
  SDK_INCLUDE=$src/sdk/include
  FETCH_MAX_CONNS=$(awk '$1 == "#define" && $2 == "FETCH_MAX_CONNS" { gsub(/[^0-9]/, "", $3); print $3 }' \
                    "$src/server/fetch.c" 2>/dev/null || true)
  return 0
}

worktree_desc() {
  local d; d="working tree at $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')"
  if [[ -n $(git -C "$REPO" status --porcelain -- server sdk plugins CMakeLists.txt 2>/dev/null) ]]; then
    d="$d + uncommitted changes in server/ sdk/ plugins/"
  fi
  echo "$d"
}

build_plughost() {
  if [[ $SRC == worktree || $SRC == auto ]]; then
    if build_tree "$REPO" "${BUILD_DIR:-$REPO/build-bench-async}" "$TMP/build-worktree.log"; then
      PH_SRC_DESC=$(worktree_desc); PH_STATUS=ok; return 0
    fi
    [[ $SRC == auto ]] || { PH_STATUS="build failed"; return 1; }
    warn "falling back to a clean export of HEAD (SRC=head)"
  fi
  local root=${BUILD_DIR:-$REPO/build-bench-async-head} sha
  [[ $SRC == auto ]] && root=$REPO/build-bench-async-head
  if [[ -z "${SKIP_BUILD:-}" ]]; then
    sha=$(git -C "$REPO" rev-parse HEAD) || { PH_STATUS="not a git checkout"; return 1; }
    rm -rf "$root/src"; mkdir -p "$root/src"
    git -C "$REPO" archive --format=tar "$sha" | tar -x -C "$root/src" \
      || { PH_STATUS="git archive HEAD failed"; return 1; }
    echo "$sha" >"$root/src/.bench-commit"
  fi
  if build_tree "$root/src" "$root/build" "$TMP/build-head.log"; then
    PH_SRC_DESC="commit $(cut -c1-7 "$root/src/.bench-commit" 2>/dev/null || echo '?') (clean git archive HEAD export)"
    PH_STATUS=ok; return 0
  fi
  PH_STATUS="build failed"; return 1
}

FETCH_SYNC_SO=""
build_fetch_sync() {  # out of tree, as a user would
  mkdir -p "$TMP/plugins"
  FETCH_SYNC_SO=$TMP/plugins/fetch_sync.so
  if ! cc -std=c11 -O2 -fPIC -shared -fvisibility=hidden -pthread -Wall -Wextra \
        -I"$SDK_INCLUDE" "$HERE/async/fetch_sync.c" -o "$FETCH_SYNC_SO" >"$TMP/fetch_sync-build.log" 2>&1; then
    warn "cc tests/bench/async/fetch_sync.c failed:"; cat "$TMP/fetch_sync-build.log" >&2
    FETCH_SYNC_SO=""
    return 1
  fi
}

# ---------------------------------------------------------------- servers
STATUS_PATH=/_plughost/status
UP_PID=""; UP_PORT=""; UP_LOG=""
start_upstream() {
  free_port; UP_PORT=$PORT
  local conf="$TMP/upstream-$UP_PORT.ini"
  UP_LOG="$TMP/upstream-$UP_PORT.log"
  cat >"$conf" <<EOF
; bench_async.sh upstream: a small JSON after LATENCY, on a loop timer
[server]
listen = 127.0.0.1:$UP_PORT
workers = 1
plugin_dir = $PLUGIN_DIR
watch = false
status_path = $STATUS_PATH

[route /slow]
plugin = sleep_async
seconds = $LATENCY
EOF
  start_server "$UP_LOG" "$PLUGHOST_BIN" -c "$conf"
  UP_PID=$SRV_PID
  wait_http "$UP_PID" "$UP_PORT" /slow "$UP_LOG"
}

# start_front KIND PORT THREADS : sets FRONT_PID, FRONT_LOG (routes: proxy and
# uvicorn /proxy, sync /fetch_sync)
FRONT_PID=""; FRONT_LOG=""
start_front() {
  local kind=$1 port=$2 threads=$3 upstream="http://127.0.0.1:$UP_PORT/slow"
  case "$kind" in
    proxy|sync)
      local dir="$TMP/front-$port"
      mkdir -p "$dir/plugins"
      if [[ $kind == proxy ]]; then
        cp "$PLUGIN_DIR/proxy.so" "$dir/plugins/proxy.so"
      else
        cp "$FETCH_SYNC_SO" "$dir/plugins/fetch_sync.so"
      fi
      FRONT_LOG="$dir/plughost.log"
      {
        printf '; bench_async.sh front (%s)\n[server]\nlisten = 127.0.0.1:%s\nworkers = 1\n' "$kind" "$port"
        printf 'sync_threads = %s\nsync_queue = 1024\nplugin_dir = plugins\nwatch = false\n' "$threads"
        printf 'status_path = %s\n' "$STATUS_PATH"
        if [[ $kind == proxy ]]; then
          printf '\n[route /proxy]\nplugin = proxy\nupstream = %s\ntimeout = %s\n' "$upstream" "$WRK_TIMEOUT"
        else
          printf '\n[route /fetch_sync]\nplugin = fetch_sync\nupstream = %s\ntimeout = %s\n' "$upstream" "$WRK_TIMEOUT"
        fi
      } >"$dir/server.ini"
      start_server "$FRONT_LOG" "$PLUGHOST_BIN" -c "$dir/server.ini"
      ;;
    uvicorn)
      FRONT_LOG="$TMP/uvicorn-$port.log"
      start_server "$FRONT_LOG" env MODE="$FASTAPI_MODE" UPSTREAM="$upstream" LATENCY="$LATENCY" \
        POOL_LIMIT="$POOL_LIMIT" TIMEOUT="$TMO_S" \
        "$PY" -m uvicorn fastapi_proxy:app --app-dir "$HERE/async" --host 127.0.0.1 --port "$port" \
        --workers 1 --no-access-log --log-level warning
      ;;
  esac
  FRONT_PID=$SRV_PID
  wait_http "$FRONT_PID" "$port" / "$FRONT_LOG"
}

# status_field PORT NAME -> a number from plughost's status document, or ""
status_field() {
  curl -s -m 2 "http://127.0.0.1:$1$STATUS_PATH" 2>/dev/null \
    | sed -n "s/.*\"$2\":\([0-9.]*\).*/\1/p" || true
}

# log_issues FILE -> "count" of warn/error lines (plughost's "[warn]"/"[error]",
# Python tracebacks/ERROR)
log_issues() {
  local n
  n=$(grep -cE '\[(warn|error)\]|Traceback|ERROR' "$1" 2>/dev/null || true)
  echo "${n:-0}"
}

# ---------------------------------------------------------------- rows
ROWS=()      # kind|path|conns|threads|nreq|rps|ideal|p50|p99|max|non2xx|sock|fcpu|ucpu|upconns|lag|hwm|logs|note
DETAILS=()

lat_ms() {   # "1.23ms" -> 1.23; handles us, ms, s, m
  awk -v v="$1" 'BEGIN {
    if (v == "") { print ""; exit }
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
    printf "%.1f", n }'
}

ideal_rps() {  # ideal_rps KIND CONNS THREADS : the latency-bound ceiling
  local kind=$1 c=$2 t=$3 cap=$2
  case "$kind" in
    sync)    cap=$(( c < t ? c : t )) ;;
    proxy)   [[ -n "$FETCH_MAX_CONNS" ]] && cap=$(( c < FETCH_MAX_CONNS ? c : FETCH_MAX_CONNS )) ;;
    uvicorn) [[ $FASTAPI_MODE == aiohttp ]] && cap=$(( c < POOL_LIMIT ? c : POOL_LIMIT )) ;;
  esac
  awk -v n="$cap" -v l="$LATENCY" 'BEGIN { printf "%.0f", n / l }'
}

skip_row() { ROWS+=("$1|$2|$3|$4|-|-|-|-|-|-|-|-|-|-|-|-|-|-|$5"); }  # KIND PATH CONNS THREADS WHY

# run_row KIND CONNS [THREADS]
run_row() {
  local kind=$1 conns=$2 threads=${3:-$SYNC_THREADS} note="" tlabel=-
  [[ $kind == sync ]] && tlabel=$threads
  [[ $kind == proxy || $kind == upstream ]] && tlabel=loop
  [[ $kind == uvicorn ]] && tlabel=loop
  local path=/slow; [[ $kind == sync ]] && path=/fetch_sync; [[ $kind == proxy || $kind == uvicorn ]] && path=/proxy
  log "$kind c=$conns${3:+ sync_threads=$threads} d=$DURATION"

  if ! start_upstream; then
    skip_row "$kind" "$path" "$conns" "$tlabel" "upstream did not start"
    stop_server "$UP_PID"; return 0
  fi
  local target_pid=$UP_PID target_port=$UP_PORT target_log=$UP_LOG
  if [[ $kind != upstream ]]; then
    free_port
    if ! start_front "$kind" "$PORT" "$threads"; then
      skip_row "$kind" "$path" "$conns" "$tlabel" "front did not start"
      stop_server "$FRONT_PID"; stop_server "$UP_PID"; return 0
    fi
    target_pid=$FRONT_PID target_port=$PORT target_log=$FRONT_LOG
  fi
  local url="http://127.0.0.1:$target_port$path" code body ubody
  code=$(curl -s -o "$TMP/check-$kind-$conns.body" -m 10 -w '%{http_code}' "$url" || true)
  body=$(head -c 200 "$TMP/check-$kind-$conns.body" 2>/dev/null || true)
  if [[ "$code" != 200 ]]; then
    warn "$kind: GET $path answered '${code:-nothing}' instead of 200 (body: $body) — row skipped"
    skip_row "$kind" "$path" "$conns" "$tlabel" "GET $path -> ${code:-none}"
    [[ $kind != upstream ]] && stop_server "$FRONT_PID"
    stop_server "$UP_PID"; return 0
  fi
  ubody=$(curl -s -m 10 "http://127.0.0.1:$UP_PORT/slow" || true)
  if [[ $kind != upstream && "$body" != "$ubody" ]]; then
    if [[ $kind == uvicorn && $FASTAPI_MODE == sleep ]]; then :; else
      note="body differs from upstream's"
      warn "$kind: body '$body' differs from the upstream's '$ubody'"
    fi
  fi

  # wrk in the background; sample memory and the upstream's connections
  local out="$TMP/wrk-$kind-$conns-$threads.txt"
  local f0 u0 t0 f1 u1 t1
  f0=$(tree_cpu_ticks "$target_pid"); u0=$(tree_cpu_ticks "$UP_PID"); t0=$(date +%s.%N)
  timeout $((DUR_S + TMO_S + 30)) \
    wrk -t"$THREADS" -c"$conns" -d"$DURATION" --timeout "$WRK_TIMEOUT" --latency "$url" >"$out" 2>&1 &
  WRK_PID=$!
  local peak_up=0 peak_thr=0 cur next=$SECONDS
  while kill -0 "$WRK_PID" 2>/dev/null; do
    if ((SECONDS >= next)); then
      next=$((SECONDS + 1))
      cur=$(status_field "$UP_PORT" connections); cur=${cur%.*}
      [[ -n "$cur" ]] && ((cur - 1 > peak_up)) && peak_up=$((cur - 1))   # minus this probe
      cur=$(nthreads "$target_pid"); ((cur > peak_thr)) && peak_thr=$cur
    fi
    sleep 0.25
  done
  wait "$WRK_PID" || note="${note:+$note; }wrk exit $?"
  WRK_PID=""
  f1=$(tree_cpu_ticks "$target_pid"); u1=$(tree_cpu_ticks "$UP_PID"); t1=$(date +%s.%N)
  local fcpu ucpu
  fcpu=$(awk -v a="$f0" -v b="$f1" -v s="$t0" -v e="$t1" -v hz="$CLK_TCK" 'BEGIN { printf "%.0f", (b - a) / hz / (e - s) * 100 }')
  ucpu=$(awk -v a="$u0" -v b="$u1" -v s="$t0" -v e="$t1" -v hz="$CLK_TCK" 'BEGIN { printf "%.0f", (b - a) / hz / (e - s) * 100 }')
  [[ $kind == upstream ]] && fcpu=$ucpu
  local lag=- hwm
  if [[ $kind != uvicorn ]]; then
    lag=$(status_field "$target_port" lag_max_ms); lag=${lag:--}
    [[ $lag != - ]] && lag=$(awk -v v="$lag" 'BEGIN { printf "%.1f", v }')
  fi
  hwm=$(mem_kib "$target_pid" VmHWM)
  kill -0 "$target_pid" 2>/dev/null || note="${note:+$note; }server DIED during run"
  kill -0 "$UP_PID" 2>/dev/null || note="${note:+$note; }upstream DIED during run"
  [[ $kind != upstream ]] && stop_server "$FRONT_PID"
  stop_server "$UP_PID"

  local rps p50 p99 max non2xx sock nreq flog ulog
  rps=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$out")
  nreq=$(awk '/ requests in / { print $1 }' "$out")
  p50=$(awk '$1 == "50%" { print $2 }' "$out")
  p99=$(awk '$1 == "99%" { print $2 }' "$out")
  max=$(awk '$1 == "Latency" { print $4 }' "$out")
  non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$out")
  sock=$(awk '/Socket errors:/ { gsub(/,/, ""); printf "%s/%s/%s/%s", $4, $6, $8, $10 }' "$out")
  if [[ -z "$rps" ]]; then
    note="${note:+$note; }no wrk result"
    tail -n 5 "$out" >&2 || true
  fi
  flog=$(log_issues "$target_log"); ulog=$(log_issues "$UP_LOG")
  [[ $kind == upstream ]] && flog=0
  ROWS+=("$kind|$path|$conns|$tlabel|${nreq:--}|${rps:--}|$(ideal_rps "$kind" "$conns" "$threads")|$(lat_ms "$p50")|$(lat_ms "$p99")|$(lat_ms "$max")|${non2xx:-0}|${sock:-0/0/0/0}|$fcpu|$ucpu|$peak_up|$lag|$(mib "$hwm")|$flog/$ulog|$note")
  [[ $kind == sync ]] && DETAILS+=("$kind c=$conns sync_threads=$threads: peak threads in the front process tree $peak_thr")
  # the exact log lines behind any count (first 5 distinct, timestamps cut)
  local f lbl files=("$UP_LOG") line
  [[ $kind != upstream ]] && files=("$target_log" "$UP_LOG")
  for f in "${files[@]}"; do
    lbl=front; [[ $f == "$UP_LOG" ]] && lbl=upstream
    if [[ $(log_issues "$f") != 0 ]]; then
      DETAILS+=("$kind c=$conns ($lbl log, $(log_issues "$f") warn/error lines; first distinct ones, timestamps cut):")
      while IFS= read -r line; do DETAILS+=("    $line"); done < <(
        grep -E '\[(warn|error)\]|Traceback|ERROR' "$f" | sed -E 's/^[0-9T:.-]+Z //' | awk '!seen[$0]++' | head -n 5)
    fi
  done
  if [[ -n "$non2xx" && "$non2xx" != 0 ]] || [[ -n "$sock" && "$sock" != 0/0/0/0 ]]; then
    DETAILS+=("$kind c=$conns: wrk reported non-2xx=${non2xx:-0}, socket errors c/r/w/t=${sock:-0/0/0/0}")
  fi
}

# ---------------------------------------------------------------- report
print_table() {
  local r kind path conns thr nreq rps ideal p50 p99 max non sock fcpu ucpu upc lag hwm logs note pct
  local fmt='%-8s %-11s %5s %7s %8s %7s %7s %5s %8s %8s %8s %7s %13s %5s %5s %6s %7s %7s %6s  %s\n'
  printf '\n'
  printf 'plughost async vs sync upstream calls (issue 4) — %s, %s cores, wrk -t%s -d%s --timeout %s --latency\n' \
    "$(date -u '+%Y-%m-%d %H:%M UTC')" "$(nproc)" "$THREADS" "$DURATION" "$WRK_TIMEOUT"
  printf 'upstream: plughost + sleep_async, seconds = %s (its own row: wrk straight at /slow)\n' "$LATENCY"
  printf 'plughost: %s (%s); proxy.so: %s\n' "$PH_SRC_DESC" "$PH_STATUS" "${PROXY_DESC:-none}"
  printf 'sync:     tests/bench/async/fetch_sync.c, blocking sockets, keep-alive pool per route (cc -O2, out of tree)\n'
  printf 'uvicorn:  %s, uvicorn %s, FastAPI %s, --workers 1, %s\n' "$FASTAPI_DESC" "$UVICORN_VER" "$FASTAPI_VER" "$UVICORN_LOOP"
  printf 'load average at start %s, at end %s%s\n' "$LOAD_START" "$(cut -d' ' -f1 /proc/loadavg)" "$BUSY_NOTE"
  printf '\n'
  # shellcheck disable=SC2059
  printf "$fmt" server route conns threads requests 'req/s' ideal '%ide' 'p50 ms' 'p99 ms' 'max ms' non-2xx 'sock c/r/w/t' 'CPU%' 'upCPU' 'upConn' 'lag ms' 'HWM MiB' 'logs' note
  printf '%s\n' "$(printf '%.0s-' $(seq 150))"
  for r in "${ROWS[@]}"; do
    IFS='|' read -r kind path conns thr nreq rps ideal p50 p99 max non sock fcpu ucpu upc lag hwm logs note <<<"$r"
    pct=-
    [[ "$rps" != - && "$ideal" != - && "$ideal" != 0 ]] && pct=$(awk -v a="$rps" -v b="$ideal" 'BEGIN { printf "%.0f", 100 * a / b }')
    # shellcheck disable=SC2059
    printf "$fmt" "$kind" "$path" "$conns" "$thr" "$nreq" "$rps" "$ideal" "$pct" "${p50:--}" "${p99:--}" "${max:--}" "$non" "$sock" "$fcpu" "$ucpu" "$upc" "$lag" "$hwm" "$logs" "$note"
  done
  printf '\n'
  printf 'ideal = latency-bound ceiling: min(conns, C) / %ss with C = sync_threads (sync), the fetch pool bound %s (proxy),\n' "$LATENCY" "${FETCH_MAX_CONNS:-?}"
  printf '        POOL_LIMIT %s (uvicorn with aiohttp), conns otherwise; %%ide = req/s / ideal.\n' "$POOL_LIMIT"
  printf 'requests = responses completed in the run; p50/p99/max = wrk latency of completed responses.\n'
  printf 'sock c/r/w/t = wrk socket errors connect/read/write/timeout. CPU%% = the measured server (front, or the upstream in\n'
  printf 'its own row), upCPU = the upstream, both in %% of one core over the run (2 cores shared with wrk). upConn = most\n'
  printf 'connections open at the upstream (sampled each second). lag ms = the plughost front loop'"'"'s worst callback (status\n'
  printf 'document lag_max_ms). HWM = peak RSS of the measured server. logs = warn/error lines front/upstream (listed below).\n'
  if ((${#DETAILS[@]})); then
    printf '\n'
    printf '%s\n' "${DETAILS[@]}"
  fi
}

# ---------------------------------------------------------------- main
if command -v apt-get >/dev/null; then install_missing; fi
for t in wrk curl cc cmake git setsid ss pgrep; do command -v "$t" >/dev/null || die "$t not found"; done

# 1,000 connections need ~1,000 fds in wrk and in each server (the front
# holds ~2 per request: client + upstream)
if (( $(ulimit -n) < 8192 )); then
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  (( $(ulimit -n) >= 4096 )) || warn "ulimit -n is $(ulimit -n): 1000-connection rows may fail"
fi

LOAD_START=$(cut -d' ' -f1 /proc/loadavg)
BUSY_NOTE=""
other_wrk=$(pgrep -x wrk 2>/dev/null | wc -l || true)
if (( other_wrk > 0 )) || awk -v l="$LOAD_START" 'BEGIN { exit !(l >= 1.0) }'; then
  BUSY_NOTE=" — WARNING: machine busy at start ($other_wrk other wrk process(es)), numbers are skewed"
  warn "machine busy at start: load average $LOAD_START, $other_wrk other wrk process(es)"
fi

# uvicorn side: aiohttp if Debian's python3-aiohttp is there, else the stand-in
FASTAPI_MODE="sleep"
FASTAPI_DESC="async def + asyncio.sleep($LATENCY) STAND-IN (no async HTTP client: python3-aiohttp not installed)"
UVICORN_VER="?"; FASTAPI_VER="?"; UVICORN_LOOP="?"
if want uvicorn; then
  if ! "$PY" -c 'import fastapi, uvicorn' 2>/dev/null; then
    warn "$PY has no fastapi/uvicorn — uvicorn rows are skipped"
  else
    if "$PY" -c 'import aiohttp' 2>/dev/null; then
      FASTAPI_MODE=aiohttp
      FASTAPI_DESC="async def + aiohttp $("$PY" -c 'import aiohttp; print(aiohttp.__version__)') ClientSession (pool limit $POOL_LIMIT)"
    fi
    UVICORN_VER=$("$PY" -c 'import uvicorn; print(uvicorn.__version__)')
    FASTAPI_VER=$("$PY" -c 'import fastapi; print(fastapi.__version__)')
    UVICORN_LOOP="loop $("$PY" -c 'import uvloop' 2>/dev/null && echo uvloop || echo asyncio), http $("$PY" -c 'import httptools' 2>/dev/null && echo httptools || echo h11)"
  fi
fi

EXIT=0
build_plughost || { warn "plughost: $PH_STATUS — plughost rows are skipped"; EXIT=3; }
if [[ $PH_STATUS == ok ]]; then
  log "plughost: $PH_SRC_DESC; proxy.so: ${PROXY_DESC:-MISSING}"
  build_fetch_sync || true
fi

has_row() { # KIND -> 0 if it can run, else prints why
  case "$1" in
    upstream) [[ $PH_STATUS == ok ]] || { echo "plughost $PH_STATUS"; return 1; } ;;
    proxy)    [[ $PH_STATUS == ok ]] || { echo "plughost $PH_STATUS"; return 1; }
              [[ -e "$PLUGIN_DIR/proxy.so" ]] || { echo "proxy.so not built"; return 1; } ;;
    sync)     [[ $PH_STATUS == ok ]] || { echo "plughost $PH_STATUS"; return 1; }
              [[ -n "$FETCH_SYNC_SO" ]] || { echo "fetch_sync.so not built"; return 1; } ;;
    uvicorn)  [[ $PH_STATUS == ok ]] || { echo "no upstream (plughost $PH_STATUS)"; return 1; }
              [[ $UVICORN_VER != "?" ]] || { echo "fastapi/uvicorn missing"; return 1; } ;;
  esac
}

if want upstream && [[ -n "$UPSTREAM_CONNS" ]]; then
  for c in $UPSTREAM_CONNS; do
    if why=$(has_row upstream); then run_row upstream "$c"; else skip_row upstream /slow "$c" loop "$why"; fi
  done
fi
for c in $CONNS; do
  for k in proxy sync uvicorn; do
    want "$k" || continue
    if why=$(has_row "$k"); then run_row "$k" "$c"; else skip_row "$k" - "$c" - "$why"; fi
  done
done
if want sync && [[ -n "$SYNC_THREADS_EXTRA" ]]; then
  for c in $SYNC_EXTRA_CONNS; do
    if why=$(has_row sync); then run_row sync "$c" "$SYNC_THREADS_EXTRA"; else skip_row sync - "$c" "$SYNC_THREADS_EXTRA" "$why"; fi
  done
fi

print_table | tee ${RESULTS:+"$RESULTS"}

# goal check: every plughost row clean
for r in "${ROWS[@]}"; do
  IFS='|' read -r kind _ conns _ nreq _ _ _ _ _ non sock _ _ _ _ _ logs note <<<"$r"
  [[ $kind == uvicorn ]] && continue
  if [[ $nreq == - || $non != 0 || $sock != 0/0/0/0 || $logs != 0/0 || $note == *DIED* ]]; then
    warn "plughost row $kind c=$conns is not clean: requests=$nreq non-2xx=$non sock=$sock logs=$logs${note:+ ($note)}"
    EXIT=4
  fi
done
exit "$EXIT"
