#!/usr/bin/env bash
# bench_core.sh — the "core slice" benchmark of plughost, run by hand.
#
# Builds plughost (Release) into <repo>/build-bench, starts plughost and its
# peers on 127.0.0.1, drives each with wrk and prints one table:
#
#   hello: GET /hello at HELLO_CONNS (100) connections
#          plughost vs nginx (return 200, 1 worker, no access log)
#                   vs Kore (one-route C module built with kodev, 1 worker)
#   seed:  GET /sync and GET /async (2 s sleep) at 100 and 1000 connections
#          plughost vs uvicorn+FastAPI (tests/bench/fastapi_app.py)
#
# Every server is started fresh for each row (so its peak RSS belongs to that
# row), on a free loopback port, and killed when the row is done; a trap
# kills whatever is left on exit. All traffic goes to 127.0.0.1 and every wrk
# run is bounded by its -d plus an outer `timeout`.
#
# Environment (all optional):
#   DURATION=10s         wrk duration of each /hello row
#   WARMUP=2s            unmeasured wrk run before each /hello row ("0" = none)
#   SLEEP_DURATION=20s   wrk duration of each /sync, /async row (>= 3x SLEEP)
#   SLEEP=2              seconds slept by /sync and /async (all servers)
#   WRK_TIMEOUT=30s      wrk --timeout for the slow rows (must exceed SLEEP)
#   THREADS=2            wrk threads
#   HELLO_CONNS=100      connections of the /hello rows
#   SEED_CONNS="100 1000" connections of the /sync, /async rows
#   SEED_ENDPOINTS="/sync /async" endpoints of the seed rows
#   ONLY=hello|seed      run one part only
#   SERVERS="plughost nginx kore uvicorn"  subset of servers to run
#   PORT_BASE=18080      first port tried; each start takes the next free one
#   BUILD_DIR=DIR        build folder (default <repo>/build-bench)
#   SKIP_BUILD=1         reuse an existing build folder (no cmake)
#   SKIP_INSTALL=1       never call apt-get (fail/skip on what is missing)
#   KEEP_TMP=1           keep the temp folder (configs, logs, raw wrk output)
#   RESULTS=FILE         also write the final table to FILE
set -euo pipefail

# ---------------------------------------------------------------- settings
HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
REPO=$(cd -- "$HERE/../.." && pwd)
BUILD=${BUILD_DIR:-$REPO/build-bench}

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
SLEEP_DURATION=${SLEEP_DURATION:-20s}
SLEEP=${SLEEP:-2}
WRK_TIMEOUT=${WRK_TIMEOUT:-30s}
THREADS=${THREADS:-2}
HELLO_CONNS=${HELLO_CONNS:-100}
SEED_CONNS=${SEED_CONNS:-100 1000}
SEED_ENDPOINTS=${SEED_ENDPOINTS:-/sync /async}
ONLY=${ONLY:-all}
SERVERS=${SERVERS:-plughost nginx kore uvicorn}
PORT_BASE=${PORT_BASE:-18080}
STARTUP_TIMEOUT=${STARTUP_TIMEOUT:-20}
PY=${PY:-/usr/bin/python3}   # Debian's python3: python3-fastapi lives there

case "$ONLY" in all|hello|seed) ;; *) echo "ONLY must be hello or seed" >&2; exit 2 ;; esac

log()  { printf '[bench] %s\n' "$*" >&2; }
warn() { printf '[bench] WARNING: %s\n' "$*" >&2; }
die()  { printf '[bench] ERROR: %s\n' "$*" >&2; exit 1; }


# ---------------------------------------------------------------- packages
PKGS=(wrk nginx-light kore python3-fastapi python3-uvicorn build-essential cmake
      pkg-config libevent-dev node-llhttp libcjson-dev libinih-dev libcmocka-dev
      procps curl)


# ---------------------------------------------------------------- temp + cleanup
TMP=$(mktemp -d "${TMPDIR:-/tmp}/plughost-bench.XXXXXX")
PIDS=()          # process-group leaders we started (each via setsid)
WRK_PID=""       # the wrk run in progress, if any


cleanup() {
  local pid
  if [[ -n "$WRK_PID" ]]; then kill "$WRK_PID" 2>/dev/null || true; fi
  for pid in "${PIDS[@]}"; do stop_server "$pid"; done
  if [[ -n "${KEEP_TMP:-}" ]]; then
    log "kept temp folder: $TMP"
  else
    rm -rf "$TMP"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- ports
NEXT_PORT=$PORT_BASE

mem_kib() {      # mem_kib PID FIELD -> sum of FIELD (VmRSS/VmHWM) over the tree
  local pid=$1 field=$2 sum=0 p v
  for p in $(tree_pids "$pid"); do
    v=$(awk -v f="$field:" '$1 == f { print $2 }' "/proc/$p/status" 2>/dev/null || true)
    sum=$((sum + ${v:-0}))
  done
  echo "$sum"
}
nprocs() { tree_pids "$1" | wc -l; }



# ---------------------------------------------------------------- servers
# Each start_<name> PORT ENDPOINT: starts the server, sets SRV_PID, returns 0
# once it answers; non-zero (with a message) if it cannot.


start_plughost() {
  local port=$1 ep=$2 conf="$TMP/plughost-$1.ini" plugdir="$BUILD/plugins"
  local plugin
  case "$ep" in
    /hello) plugin=hello ;;
    /sync)  plugin=sleep_sync ;;
    /async) plugin=sleep_async ;;
  esac
  if [[ ! -e "$plugdir/$plugin.so" ]]; then
    warn "plughost: plugin $plugdir/$plugin.so was not built — row skipped"
    return 1
  fi
  {
    printf '[server]\nlisten = 127.0.0.1:%s\nworkers = 1\nsync_threads = 40\n' "$port"
    printf 'sync_queue = 1024\nplugin_dir = %s\nwatch = false\n' "$plugdir"
    # Only the routes whose plugin exists, so one missing plugin cannot stop
    # the others from being measured.
    [[ -e "$plugdir/hello.so" ]] && printf '\n[route /hello]\nplugin = hello\n'
    [[ -e "$plugdir/sleep_sync.so" ]] && printf '\n[route /sync]\nplugin = sleep_sync\nseconds = %s\n' "$SLEEP"
    [[ -e "$plugdir/sleep_async.so" ]] && printf '\n[route /async]\nplugin = sleep_async\nseconds = %s\n' "$SLEEP"
    true
  } >"$conf"
  start_server "$TMP/plughost-$port.log" "$PLUGHOST_BIN" -c "$conf"
  # readiness: any HTTP answer (a 404 for "/" will do); the row then checks
  # that $ep itself answers 200
  wait_http "$SRV_PID" "$port" / "$TMP/plughost-$port.log"
}

start_nginx() {
  local port=$1 dir="$TMP/nginx-$1"
  write_nginx_hello_conf "$dir" "$port"
  start_server "$dir/stderr.log" nginx -e "$dir/nginx.err" -c "$dir/nginx.conf" -p "$dir"
  wait_http "$SRV_PID" "$port" /hello "$dir/stderr.log" || { cat "$dir/nginx.err" >&2 2>/dev/null; return 1; }
}

KORE_DIR=""
KORE_STATUS="not built"
build_kore() {    # copies tests/bench/kore_hello to TMP and builds it once
  if ! command -v kodev >/dev/null || ! command -v kore >/dev/null; then
    KORE_STATUS="kore/kodev not installed"; warn "$KORE_STATUS — Kore rows are skipped"; return 1
  fi
  KORE_DIR="$TMP/kore/kore_hello"     # kodev wants the folder named as the app
  mkdir -p "$TMP/kore"
  cp -r "$HERE/kore_hello" "$KORE_DIR"
  rm -f "$KORE_DIR"/*.so "$KORE_DIR/.flavor"; rm -rf "$KORE_DIR/.objs"
  if ! (cd "$KORE_DIR" && kodev flavor prod && kodev build) >"$TMP/kore-build.log" 2>&1; then
    KORE_STATUS="kodev build failed"
    warn "$KORE_STATUS — Kore rows are skipped. Build log:"; tail -n 20 "$TMP/kore-build.log" >&2
    return 1
  fi
  KORE_STATUS=ok
}

start_kore() {
  local port=$1
  sed "s/@PORT@/$port/" "$HERE/kore_hello/conf/kore_hello.conf" >"$KORE_DIR/conf/run-$port.conf"
  # -f foreground, -n no chroot, -r do not drop privileges; run from the app dir
  # (the conf loads ./kore_hello.so).
  # shellcheck disable=SC2016
  start_server "$TMP/kore-$port.log" \
    bash -c 'cd "$1" && exec kore -c "conf/run-$2.conf" -f -n -r' _ "$KORE_DIR" "$port"
  wait_http "$SRV_PID" "$port" /hello "$TMP/kore-$port.log"
}

start_uvicorn() {
  local port=$1
  # `env` so that SECONDS is a plain variable (in bash it is the shell's clock)
  start_server "$TMP/uvicorn-$port.log" env SECONDS="$SLEEP" \
    "$PY" -m uvicorn fastapi_app:app --app-dir "$HERE" --host 127.0.0.1 --port "$port" \
    --workers 1 --log-level warning --no-access-log
  wait_http "$SRV_PID" "$port" /hello "$TMP/uvicorn-$port.log"
}

# ---------------------------------------------------------------- wrk + parsing
ROWS=()          # "server|endpoint|conns|requests|rps|p50|p99|non2xx|sockerr|procs|hwm|rss|note"
skip_row() { ROWS+=("$1|$2|$3|-|-|-|-|-|-|-|-|-|$4"); }   # SERVER EP CONNS WHY

# lat_ms "1.23ms" -> 1.23 (ms); handles us, ms, s, m
lat_ms() {
  awk -v v="$1" 'BEGIN {
    if (v == "" ) { print ""; exit }
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
    printf "%.2f", n }'
}

# run_row SERVER ENDPOINT CONNS DURATION TIMEOUT
run_row() {
  local srv=$1 ep=$2 conns=$3 dur=$4 tmo=$5 port out note=""
  free_port; port=$PORT
  out="$TMP/wrk-$srv-${ep#/}-$conns.txt"
  log "$srv $ep c=$conns d=$dur port=$port"
  if ! "start_$srv" "$port" "$ep"; then
    skip_row "$srv" "$ep" "$conns" "did not start"
    [[ -n "${SRV_PID:-}" ]] && stop_server "$SRV_PID"
    return 0
  fi
  local pid=$SRV_PID url="http://127.0.0.1:$port$ep" code
  code=$(curl -s -o "$TMP/check-$srv-${ep#/}.body" -m $((SLEEP + 10)) -w '%{http_code}' "$url" || true)
  if [[ "$code" != 200 ]]; then
    warn "$srv: GET $ep answered '${code:-nothing}' instead of 200 — row skipped"
    skip_row "$srv" "$ep" "$conns" "GET $ep -> ${code:-none}"
    stop_server "$pid"
    return 0
  fi
  local dsec tsec
  dsec=$(to_secs "$dur"); tsec=$(to_secs "$tmo")
  if [[ "$ep" == /hello && "$WARMUP" != 0 ]]; then
    timeout $(( $(to_secs "$WARMUP") + 30 )) \
      wrk -t"$THREADS" -c"$conns" -d"$WARMUP" --timeout "$tmo" "$url" >/dev/null 2>&1 || true
  fi
  # wrk in the background; sample the server's RSS while it runs
  timeout $((dsec + tsec + 30)) \
    wrk -t"$THREADS" -c"$conns" -d"$dur" --timeout "$tmo" --latency "$url" >"$out" 2>&1 &
  local wpid=$! peak=0 cur
  WRK_PID=$wpid
  while kill -0 "$wpid" 2>/dev/null; do
    cur=$(mem_kib "$pid" VmRSS); ((cur > peak)) && peak=$cur
    sleep 0.5
  done
  wait "$wpid" || note="wrk exit $?"
  WRK_PID=""
  local hwm np; hwm=$(mem_kib "$pid" VmHWM); np=$(nprocs "$pid")
  kill -0 "$pid" 2>/dev/null || note="${note:+$note; }server DIED during run"
  stop_server "$pid"

  local rps p50 p99 non2xx sock nreq
  rps=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$out")
  nreq=$(awk '/ requests in / { print $1 }' "$out")
  p50=$(awk '$1 == "50%" { print $2 }' "$out")
  p99=$(awk '$1 == "99%" { print $2 }' "$out")
  non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$out")
  sock=$(awk '/Socket errors:/ { gsub(/,/, ""); printf "%s/%s/%s/%s", $4, $6, $8, $10 }' "$out")
  if [[ -z "$rps" ]]; then
    note="${note:+$note; }no wrk result (see $out)"
    tail -n 5 "$out" >&2 || true
  fi
  ROWS+=("$srv|$ep|$conns|${nreq:--}|${rps:--}|$(lat_ms "$p50")|$(lat_ms "$p99")|${non2xx:-0}|${sock:-0/0/0/0}|$np|$(mib "$hwm")|$(mib "$peak")|$note")
}

# ---------------------------------------------------------------- report
print_table() {
  local r srv ep conns nreq rps p50 p99 non sock np hwm rss note ratio base p99r
  local fmt='%-9s %-7s %5s %8s %8s %8s %8s %7s %13s %5s %7s %7s %7s %8s  %s\n'
  printf '\n'
  printf 'plughost core-slice benchmark — %s, %s cores, wrk -t%s; /hello d=%s; /sync /async d=%s, sleep %ss, wrk timeout %s\n' \
    "$(date -u '+%Y-%m-%d %H:%M UTC')" "$(nproc)" "$THREADS" "$DURATION" "$SLEEP_DURATION" "$SLEEP" "$WRK_TIMEOUT"
  printf 'plughost: %s   kore: %s\n' "$PLUGHOST_STATUS" "$KORE_STATUS"
  [[ -z "$BUSY_NOTE" ]] || printf 'WARNING: %s\n' "$BUSY_NOTE"
  printf '\n'
  # shellcheck disable=SC2059
  printf "$fmt" server endpoint conns requests 'req/s' 'p50 ms' 'p99 ms' non-2xx 'sock c/r/w/t' procs 'HWM MiB' 'RSS MiB' 'ph/peer' 'p99 ph/p' note
  printf '%s\n' "$(printf '%.0s-' $(seq 135))"
  for r in "${ROWS[@]}"; do
    IFS='|' read -r srv ep conns nreq rps p50 p99 non sock np hwm rss note <<<"$r"
    ratio=-; p99r=-
    if [[ "$srv" != plughost ]]; then
      base=$(printf '%s\n' "${ROWS[@]}" | awk -F'|' -v e="$ep" -v c="$conns" \
             '$1 == "plughost" && $2 == e && $3 == c { print $5 "|" $7 }')
      if [[ -n "$base" && "${base%%|*}" != - && "$rps" != - && "$rps" != 0 ]]; then
        ratio=$(awk -v a="${base%%|*}" -v b="$rps" 'BEGIN { printf "%.2f", a / b }')
        p99r=$(awk -v a="${base#*|}" -v b="$p99" 'BEGIN { if (a != "" && a != "-" && b > 0) printf "%.2f", a / b; else print "-" }')
      fi
    fi
    # shellcheck disable=SC2059
    printf "$fmt" "$srv" "$ep" "$conns" "$nreq" "$rps" "${p50:--}" "${p99:--}" "$non" "$sock" "$np" "$hwm" "$rss" "$ratio" "$p99r" "$note"
  done
  printf '\n'
  printf 'requests = responses completed in the run (in-flight ones at the end are not counted); latencies are of completed responses only.\n'
  printf 'ph/peer = plughost req/s / peer req/s (target >= 1.00 for /hello); p99 ph/p = plughost p99 / peer p99 (< 1 is better for plughost).\n'
  printf 'sock c/r/w/t = wrk socket errors connect/read/write/timeout; procs = server processes; HWM = peak RSS (VmHWM),\n'
  printf 'RSS = highest VmRSS sampled every 0.5 s under load; both summed over the server processes, in MiB.\n'
}

# ---------------------------------------------------------------- main
if command -v apt-get >/dev/null; then install_missing; fi
for t in wrk curl; do command -v "$t" >/dev/null || die "$t not found"; done

# 1,000 connections need ~1,000 fds in wrk and in the server
if (( $(ulimit -n) < 8192 )); then
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  (( $(ulimit -n) >= 2048 )) || warn "ulimit -n is $(ulimit -n): 1000-connection rows may fail"
fi

(( $(to_secs "$WRK_TIMEOUT") > SLEEP )) || warn "WRK_TIMEOUT ($WRK_TIMEOUT) is not above SLEEP (${SLEEP}s)"
(( $(to_secs "$SLEEP_DURATION") >= 3 * SLEEP )) || warn "SLEEP_DURATION ($SLEEP_DURATION) is under 3x SLEEP: slow rows will be noisy"

# Other load skews everything: say so up front and in the table header.
BUSY_NOTE=""
other_wrk=$(pgrep -x wrk 2>/dev/null | wc -l || true)
load1=$(cut -d' ' -f1 /proc/loadavg)
if (( other_wrk > 0 )) || awk -v l="$load1" 'BEGIN { exit !(l >= 1.0) }'; then
  BUSY_NOTE="machine busy at start: load average $load1, $other_wrk other wrk process(es) — numbers are skewed"
  warn "$BUSY_NOTE"
fi

if want plughost; then build_plughost || true; else PLUGHOST_STATUS="not selected"; fi
if [[ "$ONLY" != seed ]] && want kore; then build_kore || true; else KORE_STATUS="not selected"; fi

if [[ "$ONLY" != seed ]]; then
  for s in plughost nginx kore; do
    want "$s" || continue
    [[ $s == plughost && $PLUGHOST_STATUS != ok ]] && { skip_row plughost /hello "$HELLO_CONNS" "$PLUGHOST_STATUS"; continue; }
    [[ $s == kore && $KORE_STATUS != ok ]] && { skip_row kore /hello "$HELLO_CONNS" "$KORE_STATUS"; continue; }
    [[ $s == nginx ]] && ! command -v nginx >/dev/null && { skip_row nginx /hello "$HELLO_CONNS" "nginx not installed"; continue; }
    run_row "$s" /hello "$HELLO_CONNS" "$DURATION" 5s
  done
fi

if [[ "$ONLY" != hello ]]; then
  for ep in $SEED_ENDPOINTS; do
    for c in $SEED_CONNS; do
      for s in plughost uvicorn; do
        want "$s" || continue
        [[ $s == plughost && $PLUGHOST_STATUS != ok ]] && { skip_row plughost "$ep" "$c" "$PLUGHOST_STATUS"; continue; }
        run_row "$s" "$ep" "$c" "$SLEEP_DURATION" "$WRK_TIMEOUT"
      done
    done
  done
fi

print_table | tee ${RESULTS:+"$RESULTS"}
[[ "$PLUGHOST_STATUS" == ok || "$PLUGHOST_STATUS" == "not selected" ]] || exit 3
