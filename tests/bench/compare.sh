#!/usr/bin/env bash
# compare.sh OUTDIR — the whole comparison in one command: plughost against
# nginx, Kore and uvicorn+FastAPI (all from Debian packages), on this
# machine, in one run. Writes OUTDIR/results.md (Markdown tables),
# OUTDIR/chart.png (gnuplot) and the raw data under OUTDIR/raw/.
#
#   seed:  the seed's GET /sync (a `def` handler on a pool of 40 threads)
#          and GET /async (an `async def` one), each sleeping SLEEP seconds,
#          at every concurrency of CONCURRENCY: plughost (sleep_sync /
#          sleep_async) against uvicorn+FastAPI (fastapi_app.py). wrk's
#          2xx req/s, p50, p99, errors, and the server's peak memory
#          (Pss summed over its process tree, sampled every 0.5 s).
#   cost:  what one GET /hello costs: plughost's async `hello` plugin, a sync
#          twin (compare/hello_sync.c), nginx (1 worker, `return 200`), Kore
#          (1 worker, kore_hello/) and uvicorn+FastAPI:
#            req/s      wrk -t1 -c64, median of ROUNDS interleaved rounds
#            CPU        user+sys of the server's process tree (/proc) over a
#                       fixed number of requests (h2load -n), median of rounds
#            syscalls   counted over two fixed request counts (perf's
#                       raw_syscalls tracepoint, or strace -c -f), by difference
#            instructions  callgrind over two fresh runs with different
#                       request counts, by difference (start-up cancels out)
#
# Every server listens on 127.0.0.1 only, on a free port from PORT_BASE, is
# started fresh for each run and stopped after it; every load run is bounded
# (wrk -d / h2load -n plus an outer `timeout`); a trap stops everything on
# exit. The full run takes about 10 minutes on 2 cores.
#
#   tests/bench/compare.sh tests/bench/results        # full run, the committed results
#   SMOKE=1 tests/bench/compare.sh /tmp/cmp           # everything once, tiny: ~40 s
#   CONCURRENCY="10 100 1000" DURATION=7s tests/bench/compare.sh /tmp/cmp
#   ONLY=cost TARGETS="plughost-async nginx" tests/bench/compare.sh /tmp/cmp
#
# Environment (all optional; SMOKE=1 changes the defaults marked *):
#   CONCURRENCY="10 100 1000 10000"*  wrk connections of the seed runs
#   DURATION=13s*        each seed run (wrk -d); not a multiple of SLEEP, so
#                        whether the last round of sleeps lands inside the
#                        run is not a coin toss (DURATION=12s: issue 14's figure)
#   SLEEP=2*             seconds slept by /sync and /async (both servers)
#   SEED_THREADS=1       wrk threads of the seed runs
#   SEED_TIMEOUT=30s     wrk --timeout of the seed runs
#   SYNC_THREADS=40      plughost sync_threads (uvicorn's AnyIO pool has 40)
#   SYNC_QUEUE=          plughost sync_queue; empty = room for every connection
#                        (max(1024, conns)): both servers queue, none sheds
#   HELLO_DURATION=10s*  each /hello req/s run (wrk -t1 -c HELLO_CONNS)
#   WARMUP=2s*           unmeasured wrk run before it ("0" = none)
#   ROUNDS=3*            interleaved rounds of the cost part
#   HELLO_CONNS=64       connections of every /hello load
#   CPU_REQUESTS=200000* (uvicorn: CPU_REQUESTS_PY=20000*) requests of the CPU run
#   SYSCALL_REQUESTS="50000 150000"* (uvicorn: SYSCALL_REQUESTS_PY="5000 15000"*)
#   CG_REQUESTS="5000 25000"* (uvicorn: CG_REQUESTS_PY="500 1500")
#   SYSCALL_TOOL=auto    perf (raw_syscalls:sys_enter, in the kernel: does not
#                        slow the server) | strace (strace -c -f) | auto (perf if it works)
#   TARGETS="plughost-async plughost-sync nginx kore uvicorn"   cost part
#   CG_TARGETS=          callgrind targets (default TARGETS; SMOKE: without uvicorn)
#   SEED_SERVERS="plughost uvicorn"
#   ONLY=seed|cost       one part only; ONLY=readme: no run, only OUTDIR/summary.md
#                        into README.md (as UPDATE_README=1 does after a run)
#   PORT_BASE=19080      first port tried
#   STARTUP_TIMEOUT=30   seconds for a server to answer (CG_STARTUP_TIMEOUT=120
#                        under valgrind)
#   BUILD_DIR=DIR        plughost build (default <repo>/build-bench)
#   SKIP_BUILD=1         use BUILD_DIR as it is (no cmake)
#   SKIP_INSTALL=1       never call apt-get
#   KEEP_TMP=1           keep the temp folder (configs, server logs)
#   PY=/usr/bin/python3  the Python with Debian's FastAPI
#   UPDATE_README=1      also put OUTDIR/summary.md between the compare.sh
#                        markers of README.md (OUTDIR must be inside the repository)
#
# Exit status: 0 done; 1 setup error; 3 plughost not built; 4 a row failed
# (a server did not start or answer, a load run gave no result).
# The Markdown written below has `code` in single quotes; the C_* arrays are
# read through write_cost_tables' nameref.
# shellcheck disable=SC2016,SC2034
set -euo pipefail

# ---------------------------------------------------------------- settings
HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
export PATH="$PATH:/usr/sbin"       # nginx, for whoever is not root
# shellcheck source=lib.sh
. "$HERE/lib.sh"
REPO=$(cd -- "$HERE/../.." && pwd)
BUILD=${BUILD_DIR:-$REPO/build-bench}
OUT=${1:-$BUILD/compare}

SMOKE=${SMOKE:-}
if [[ -n "$SMOKE" && "$SMOKE" != 0 ]]; then
  SMOKE=1
  : "${CONCURRENCY:=10 100}" "${DURATION:=1s}" "${SLEEP:=0.3}"
  : "${HELLO_DURATION:=1s}" "${WARMUP:=0}" "${ROUNDS:=1}"
  : "${CPU_REQUESTS:=5000}" "${CPU_REQUESTS_PY:=1000}"
  : "${SYSCALL_REQUESTS:=2000 6000}" "${SYSCALL_REQUESTS_PY:=300 900}"
  : "${CG_REQUESTS:=300 900}"
else
  SMOKE=""
fi
CONCURRENCY=${CONCURRENCY:-10 100 1000 10000}
DURATION=${DURATION:-13s}
SLEEP=${SLEEP:-2}
SEED_THREADS=${SEED_THREADS:-1}
SEED_TIMEOUT=${SEED_TIMEOUT:-30s}
SYNC_THREADS=${SYNC_THREADS:-40}
SYNC_QUEUE=${SYNC_QUEUE:-}
HELLO_DURATION=${HELLO_DURATION:-10s}
WARMUP=${WARMUP:-2s}
ROUNDS=${ROUNDS:-3}
HELLO_CONNS=${HELLO_CONNS:-64}
CPU_REQUESTS=${CPU_REQUESTS:-200000}
CPU_REQUESTS_PY=${CPU_REQUESTS_PY:-20000}
SYSCALL_REQUESTS=${SYSCALL_REQUESTS:-50000 150000}
SYSCALL_REQUESTS_PY=${SYSCALL_REQUESTS_PY:-5000 15000}
CG_REQUESTS=${CG_REQUESTS:-5000 25000}
CG_REQUESTS_PY=${CG_REQUESTS_PY:-500 1500}
SYSCALL_TOOL=${SYSCALL_TOOL:-auto}
TARGETS=${TARGETS:-plughost-async plughost-sync nginx kore uvicorn}
if [[ -n "$SMOKE" ]]; then
  CG_TARGETS=${CG_TARGETS-$(tr ' ' '\n' <<<"$TARGETS" | grep -vx uvicorn | tr '\n' ' ')}
else
  CG_TARGETS=${CG_TARGETS-$TARGETS}
fi
SEED_SERVERS=${SEED_SERVERS:-plughost uvicorn}
ONLY=${ONLY:-all}
PORT_BASE=${PORT_BASE:-19080}
STARTUP_TIMEOUT=${STARTUP_TIMEOUT:-30}
CG_STARTUP_TIMEOUT=${CG_STARTUP_TIMEOUT:-120}
PY=${PY:-/usr/bin/python3}

case "$ONLY" in all|seed|cost|readme) ;; *) echo "ONLY must be seed, cost or readme" >&2; exit 2 ;; esac
case "$SYSCALL_TOOL" in auto|perf|strace) ;; *) echo "SYSCALL_TOOL must be auto, perf or strace" >&2; exit 2 ;; esac

T_START=$SECONDS
log()  { printf '[compare %3ds] %s\n' $((SECONDS - T_START)) "$*" >&2; }
warn() { printf '[compare] WARNING: %s\n' "$*" >&2; }
die()  { printf '[compare] ERROR: %s\n' "$*" >&2; exit 1; }

CLK_TCK=$(getconf CLK_TCK)
FAILED=()        # what went wrong, for the exit status and results.md

# ---------------------------------------------------------------- packages
PKGS=(wrk nghttp2-client gnuplot-nox valgrind strace kore python3-fastapi python3-uvicorn
      build-essential cmake pkg-config libevent-dev node-llhttp libcjson-dev libinih-dev
      procps curl)
# any nginx will do (deps.sh --peers installs `nginx`, the other benches nginx-light)
PATH="$PATH:/usr/sbin" command -v nginx >/dev/null || PKGS+=(nginx-light)

# ---------------------------------------------------------------- temp + cleanup
TMP=$(mktemp -d "${TMPDIR:-/tmp}/plughost-compare.XXXXXX")
PIDS=()          # process-group leaders we started (each via setsid)
BG=""            # the load generator / counter running in the background, if any

cleanup() {
  local pid
  for pid in $BG; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do stop_server "$pid"; done
  if [[ -n "${KEEP_TMP:-}" ]]; then log "kept temp folder: $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

NEXT_PORT=$PORT_BASE
RAW="$OUT/raw"

# ---------------------------------------------------------------- small helpers
# median_of TARGET COLUMN : median of the numbers in raw/cost-rounds.tsv's COLUMN for TARGET
median_of() {
  awk -F'\t' -v t="$1" -v c="$2" '$1 == t && $c ~ /^[0-9.]+$/ { print $c }' "$RAW/cost-rounds.tsv" | sort -g |
    awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
# req_for TARGET KIND : the request count(s) of KIND (CPU, SYSCALL, CG) for TARGET
req_for() { local v="$2_REQUESTS"; [[ $1 == uvicorn ]] && v="$2_REQUESTS_PY"; echo "${!v}"; }
fail_note() { FAILED+=("$*"); warn "$*"; }
stop_one() { stop_server "$1"; PIDS=(); }

# ---------------------------------------------------------------- builds
HELLO_SYNC_DIR="$TMP/plugins"
build_extras() {   # hello_sync.so (out of tree, as a user would)
  mkdir -p "$HELLO_SYNC_DIR"
  cc -std=c11 -O2 -fPIC -shared -fvisibility=hidden -Wall -Wextra -I"$REPO/sdk/include" \
    "$HERE/compare/hello_sync.c" -o "$HELLO_SYNC_DIR/hello_sync.so" >"$TMP/hello_sync.log" 2>&1 \
    || { cat "$TMP/hello_sync.log" >&2; die "cc compare/hello_sync.c failed"; }
}

KORE_DIR=""
build_kore() {     # tests/bench/kore_hello + compare/kore_nosandbox.c, kodev prod flavor
  if ! command -v kodev >/dev/null || ! command -v kore >/dev/null; then
    fail_note "kore/kodev not installed"; return 1
  fi
  KORE_DIR="$TMP/kore/kore_hello"     # kodev wants the folder named as the app
  mkdir -p "$TMP/kore"
  cp -r "$HERE/kore_hello" "$KORE_DIR"
  rm -f "$KORE_DIR"/*.so "$KORE_DIR/.flavor"; rm -rf "$KORE_DIR/.objs"
  cp "$HERE/compare/kore_nosandbox.c" "$KORE_DIR/src/"
  if ! (cd "$KORE_DIR" && kodev flavor prod && kodev build) >"$TMP/kore-build.log" 2>&1; then
    tail -n 20 "$TMP/kore-build.log" >&2
    fail_note "kodev build of kore_hello failed"; KORE_DIR=""; return 1
  fi
}

# ---------------------------------------------------------------- servers
# start_target NAME PORT [valgrind] : starts NAME (plughost-async,
# plughost-sync, nginx, kore, uvicorn: /hello; plughost-seed, uvicorn-seed:
# /sync and /async, for CONNS connections) on 127.0.0.1:PORT, sets SRV_PID;
# 0 once it answers HTTP. With "valgrind" it runs under callgrind
# (--trace-children=yes, one output file per process in $CG_DIR).
CONNS=0
start_target() {
  local name=$1 port=$2 vg=${3:-} log="$TMP/$1-$2.log" dir="$TMP/$1-$2" queue maxc
  local pre=() envs=()
  mkdir -p "$dir"
  if [[ $vg == valgrind ]]; then
    pre=(valgrind --tool=callgrind --trace-children=yes "--callgrind-out-file=$CG_DIR/cg.%p")
  fi
  case $name in
    plughost-*)
      {
        printf '[server]\nlisten = 127.0.0.1:%s\nworkers = 1\nwatch = false\nlog_level = warn\n' "$port"
        case $name in
          plughost-async) printf 'plugin_dir = %s\n\n[route /hello]\nplugin = hello\n' "$BUILD/plugins" ;;
          plughost-sync)  printf 'plugin_dir = %s\nsync_threads = %s\n\n[route /hello]\nplugin = hello_sync\n' \
                            "$HELLO_SYNC_DIR" "$SYNC_THREADS" ;;
          plughost-seed)
            queue=${SYNC_QUEUE:-$(( CONNS > 1024 ? CONNS : 1024 ))}
            maxc=$(( CONNS * 2 > 10000 ? CONNS * 2 : 10000 ))
            printf 'plugin_dir = %s\nsync_threads = %s\nsync_queue = %s\nmax_connections = %s\n' \
              "$BUILD/plugins" "$SYNC_THREADS" "$queue" "$maxc"
            printf '\n[route /sync]\nplugin = sleep_sync\nseconds = %s\n' "$SLEEP"
            printf '\n[route /async]\nplugin = sleep_async\nseconds = %s\n' "$SLEEP" ;;
        esac
      } >"$dir/server.ini"
      start_server "$log" env "${envs[@]}" "${pre[@]}" "$PLUGHOST_BIN" -c "$dir/server.ini"
      wait_http "$SRV_PID" "$port" / "$log" ;;
    nginx)
      write_nginx_hello_conf "$dir" "$port"
      start_server "$log" "${pre[@]}" nginx -e "$dir/nginx.err" -c "$dir/nginx.conf" -p "$dir"
      wait_http "$SRV_PID" "$port" /hello "$log" || { cat "$dir/nginx.err" >&2 2>/dev/null; return 1; } ;;
    kore)
      [[ -n "$KORE_DIR" ]] || return 1
      sed "s/@PORT@/$port/" "$HERE/kore_hello/conf/kore_hello.conf" >"$KORE_DIR/conf/run-$port.conf"
      [[ $vg == valgrind ]] && envs=(KORE_HELLO_NO_SANDBOX=1)
      # -f foreground, -n no chroot, -r keep privileges; from the app folder
      # (the conf loads ./kore_hello.so)
      # shellcheck disable=SC2016
      start_server "$log" env "${envs[@]}" bash -c 'cd "$1" && shift && exec "$@"' _ "$KORE_DIR" \
        "${pre[@]}" kore -c "conf/run-$port.conf" -f -n -r
      wait_http "$SRV_PID" "$port" /hello "$log" ;;
    uvicorn|uvicorn-seed)
      # `env` so that SECONDS is a plain variable (in bash it is the clock).
      # --backlog 4096: plughost's listen backlog (uvicorn's default is 2048)
      start_server "$log" env SECONDS="$SLEEP" "${pre[@]}" \
        "$PY" -m uvicorn fastapi_app:app --app-dir "$HERE" --host 127.0.0.1 --port "$port" \
        --workers 1 --log-level warning --no-access-log --backlog 4096
      wait_http "$SRV_PID" "$port" /hello "$log" ;;
    *) die "unknown target $name" ;;
  esac
}

# ---------------------------------------------------------------- part 1: seed
# raw/seed.tsv: server endpoint conns requests secs ok_rps p50_ms p99_ms
#               non2xx sock pss_mib rss_mib hwm_mib note
seed_run() {     # seed_run SERVER ENDPOINT CONNS
  local srv=$1 ep=$2 c=$3 port pid url out note="" code dsec tsec
  free_port; port=$PORT
  url="http://127.0.0.1:$port$ep"
  out="$RAW/seed-$srv-${ep#/}-$c.txt"
  log "seed: $srv $ep c=$c d=$DURATION port=$port"
  CONNS=$c
  if ! start_target "$srv-seed" "$port"; then
    fail_note "seed $srv $ep c=$c: server did not start"
    [[ -n "${SRV_PID:-}" ]] && stop_one "$SRV_PID"
    printf '%s\t%s\t%s\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t%s\n' "$srv" "$ep" "$c" "did not start" >>"$RAW/seed.tsv"
    return 0
  fi
  pid=$SRV_PID
  code=$(curl -s -o /dev/null -m "$(awk -v s="$SLEEP" 'BEGIN { printf "%d", s + 10 }')" -w '%{http_code}' "$url" || true)
  if [[ "$code" != 200 ]]; then
    fail_note "seed $srv: GET $ep answered '${code:-nothing}' instead of 200"
    stop_one "$pid"
    printf '%s\t%s\t%s\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t%s\n' "$srv" "$ep" "$c" "GET $ep -> ${code:-none}" >>"$RAW/seed.tsv"
    return 0
  fi
  dsec=$(to_secs "$DURATION"); tsec=$(to_secs "$SEED_TIMEOUT")
  timeout $((dsec + tsec + 30)) \
    wrk -t"$SEED_THREADS" -c"$c" -d"$DURATION" --timeout "$SEED_TIMEOUT" --latency "$url" >"$out" 2>&1 &
  local wpid=$! pss=0 rss=0 hwm p r
  BG=$wpid
  while kill -0 "$wpid" 2>/dev/null; do        # peak memory, every 0.5 s
    read -r p r _ <<<"$(tree_mem_kib "$pid")"
    ((p > pss)) && pss=$p; ((r > rss)) && rss=$r
    sleep 0.5
  done
  wait "$wpid" || note="wrk exit $?"
  BG=""
  read -r p r hwm <<<"$(tree_mem_kib "$pid")"
  ((p > pss)) && pss=$p; ((r > rss)) && rss=$r
  kill -0 "$pid" 2>/dev/null || note="${note:+$note; }server DIED"
  stop_one "$pid"
  wrk_result "$out"
  if [[ -z "$W_REQ" || -z "$W_SECS" ]]; then
    fail_note "seed $srv $ep c=$c: no wrk result (raw/${out##*/})"
    note="${note:+$note; }no wrk result"
  fi
  local ok_rps
  ok_rps=$(awk -v n="${W_REQ:-0}" -v x="$W_NON" -v s="${W_SECS:-0}" 'BEGIN { if (s > 0) printf "%.1f", (n - x) / s; else print "-" }')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$srv" "$ep" "$c" "${W_REQ:--}" "${W_SECS:--}" \
    "$ok_rps" "${W_P50:--}" "${W_P99:--}" "$W_NON" "$W_SOCK" "$(mib "$pss")" "$(mib "$rss")" "$(mib "$hwm")" "$note" \
    >>"$RAW/seed.tsv"
}

# ---------------------------------------------------------------- part 2: cost
SYS_TOOL=""
pick_syscall_tool() {
  local t=$SYSCALL_TOOL
  if [[ $t == auto || $t == perf ]]; then
    if command -v perf >/dev/null && perf stat -x, -e raw_syscalls:sys_enter -o "$TMP/perf-check" true >/dev/null 2>&1 \
       && grep -qE '^[0-9]+,' "$TMP/perf-check"; then
      SYS_TOOL=perf; return 0
    fi
    [[ $t == perf ]] && warn "perf cannot count raw_syscalls:sys_enter here — using strace"
  fi
  command -v strace >/dev/null || { fail_note "neither perf nor strace can count syscalls"; return 1; }
  SYS_TOOL=strace
}

# h2load_n URL N OUT : N requests on HELLO_CONNS connections, one thread;
# 0 when all N succeeded
h2load_n() {
  local url=$1 n=$2 out=$3 ok
  timeout "${H2LOAD_TIMEOUT:-300}" h2load --h1 -n "$n" -c "$HELLO_CONNS" -t 1 "$url" >"$out" 2>&1 || true
  ok=$(awk '/^requests:/ { for (i = 1; i <= NF; i++) if ($(i + 1) ~ /^succeeded/) print $i }' "$out")
  [[ "$ok" == "$n" ]]
}

# count_syscalls ROOT URL N OUT : syscalls made by ROOT's process tree (all
# threads) while h2load sends N requests; prints the count
count_syscalls() {
  local root=$1 url=$2 n=$3 out=$4 pids p cnt
  pids=$(tree_pids "$root" | tr '\n' ' ')
  if [[ $SYS_TOOL == perf ]]; then
    perf stat -x, -e raw_syscalls:sys_enter -p "$(tr ' ' ',' <<<"${pids% }")" -o "$out" &
  else
    local args=()
    for p in $pids; do args+=(-p "$p"); done
    strace -c -f -qq -o "$out" "${args[@]}" &
  fi
  BG=$!
  # attached: perf at once; strace takes a moment for 40 threads
  if [[ $SYS_TOOL == perf ]]; then sleep 0.3; else sleep 1.5; fi
  h2load_n "$url" "$n" "$out.h2load" || { kill -INT "$BG" 2>/dev/null; wait "$BG" 2>/dev/null; BG=""; return 1; }
  kill -INT "$BG" 2>/dev/null || true
  wait "$BG" 2>/dev/null || true
  BG=""
  if [[ $SYS_TOOL == perf ]]; then
    cnt=$(awk -F, '$3 == "raw_syscalls:sys_enter" { print $1 }' "$out")
  else
    cnt=$(awk '$NF == "total" { print $4 }' "$out")
  fi
  [[ "$cnt" =~ ^[0-9]+$ ]] || return 1
  echo "$cnt"
}

declare -A C_RPS C_P99 C_CPU C_SYS C_INS
# raw/cost-rounds.tsv: target round rps p99_ms cpu_us_per_req cpu_requests note
cost_run() {     # cost_run TARGET ROUND
  local t=$1 r=$2 port pid url out note="" code body n t0 t1 rps p99 cpu="-"
  free_port; port=$PORT
  url="http://127.0.0.1:$port/hello"
  out="$RAW/hello-$t-r$r.txt"
  log "cost: round $r: $t port=$port"
  if ! start_target "$t" "$port"; then
    fail_note "cost $t round $r: server did not start"
    [[ -n "${SRV_PID:-}" ]] && stop_one "$SRV_PID"
    printf '%s\t%s\t-\t-\t-\t-\t%s\n' "$t" "$r" "did not start" >>"$RAW/cost-rounds.tsv"
    return 0
  fi
  pid=$SRV_PID
  body=$(curl -s -m 5 -w '|%{http_code}' "$url" || true)
  if [[ "$body" != "Hello, World!|200" ]]; then
    fail_note "cost $t: GET /hello answered '${body}' instead of 200 Hello, World!"
    stop_one "$pid"
    printf '%s\t%s\t-\t-\t-\t-\t%s\n' "$t" "$r" "GET /hello -> $body" >>"$RAW/cost-rounds.tsv"
    return 0
  fi
  if [[ "$WARMUP" != 0 ]]; then
    timeout $(( $(to_secs "$WARMUP") + 30 )) wrk -t1 -c"$HELLO_CONNS" -d"$WARMUP" "$url" >/dev/null 2>&1 || true
  fi
  # req/s: wrk -t1 -c64
  timeout $(( $(to_secs "$HELLO_DURATION") + 35 )) \
    wrk -t1 -c"$HELLO_CONNS" -d"$HELLO_DURATION" --timeout 5s --latency "$url" >"$out" 2>&1 || note="wrk exit $?"
  wrk_result "$out"
  rps=${W_RPS:--}; p99=${W_P99:--}
  [[ -n "$W_REQ" ]] || fail_note "cost $t round $r: no wrk result (raw/${out##*/})"
  if [[ "$W_NON" != 0 || "$W_SOCK" != 0/0/0/0 ]]; then
    note="${note:+$note; }wrk: $W_NON non-2xx, socket errors $W_SOCK"
  fi
  # CPU: user+sys of the tree over a fixed number of requests
  n=$(req_for "$t" CPU)
  t0=$(tree_cpu_ticks "$pid")
  if h2load_n "$url" "$n" "$RAW/cpu-$t-r$r.txt"; then
    t1=$(tree_cpu_ticks "$pid")
    cpu=$(awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" -v n="$n" 'BEGIN { printf "%.2f", d / hz * 1e6 / n }')
  else
    fail_note "cost $t round $r: h2load did not complete $n requests (raw/cpu-$t-r$r.txt)"
  fi
  # syscalls, in the last round: two counts, by difference
  if ((r == ROUNDS)) && [[ -n "$SYS_TOOL" ]]; then
    local a b na nb
    read -r na nb <<<"$(req_for "$t" SYSCALL)"
    if a=$(count_syscalls "$pid" "$url" "$na" "$RAW/syscalls-$t-$na.txt") &&
       b=$(count_syscalls "$pid" "$url" "$nb" "$RAW/syscalls-$t-$nb.txt"); then
      C_SYS[$t]=$(awk -v a="$a" -v b="$b" -v na="$na" -v nb="$nb" 'BEGIN { printf "%.2f", (b - a) / (nb - na) }')
      printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$SYS_TOOL" "$na" "$a" "$nb" "$b" >>"$RAW/syscalls.tsv"
    else
      fail_note "cost $t: syscall count failed (raw/syscalls-$t-*.txt)"
    fi
  fi
  kill -0 "$pid" 2>/dev/null || note="${note:+$note; }server DIED"
  stop_one "$pid"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$r" "$rps" "$p99" "$cpu" "$n" "$note" >>"$RAW/cost-rounds.tsv"
}

# cg_stop PID : TERM the group and wait for valgrind to write its files
# (up to 60 s, a Python interpreter exits slowly under callgrind); KILL after
cg_stop() {
  local pid=$1
  kill -TERM -- "-$pid" 2>/dev/null || true
  for _ in $(seq 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  PIDS=()
}

# callgrind TARGET : user-space instructions per request, from two fresh
# runs under callgrind with different request counts
CG_DIR=""
callgrind_target() {
  local t=$1 na nb n port ins=() sum big
  read -r na nb <<<"$(req_for "$t" CG)"
  for n in "$na" "$nb"; do
    # nginx's worker runs as nobody: it must reach and write CG_DIR
    CG_DIR="$TMP/cg-$t-$n"; mkdir -p "$CG_DIR"; chmod 711 "$TMP"; chmod 1777 "$CG_DIR"
    free_port; port=$PORT
    log "callgrind: $t, $n requests, port=$port"
    local saved=$STARTUP_TIMEOUT; STARTUP_TIMEOUT=$CG_STARTUP_TIMEOUT
    if ! start_target "$t" "$port" valgrind; then
      STARTUP_TIMEOUT=$saved
      fail_note "callgrind $t: server did not start under valgrind"
      [[ -n "${SRV_PID:-}" ]] && cg_stop "$SRV_PID"
      return 0
    fi
    STARTUP_TIMEOUT=$saved
    if ! H2LOAD_TIMEOUT=600 h2load_n "http://127.0.0.1:$port/hello" "$n" "$RAW/callgrind-$t-$n.h2load.txt"; then
      fail_note "callgrind $t: h2load did not complete $n requests"
      cg_stop "$SRV_PID"; return 0
    fi
    cg_stop "$SRV_PID"
    sum=$(cat "$CG_DIR"/cg.* 2>/dev/null | awk '$1 == "totals:" { s += $2 } END { printf "%.0f", s }')
    grep -H '^totals:' "$CG_DIR"/cg.* >"$RAW/callgrind-$t-$n.totals.txt" 2>/dev/null || true
    [[ "$sum" =~ ^[1-9][0-9]*$ ]] || { fail_note "callgrind $t: no totals (valgrind wrote nothing?)"; return 0; }
    ins+=("$sum")
  done
  C_INS[$t]=$(awk -v a="${ins[0]}" -v b="${ins[1]}" -v na="$na" -v nb="$nb" 'BEGIN { printf "%.0f", (b - a) / (nb - na) }')
  printf '%s\t%s\t%s\t%s\t%s\n' "$t" "$na" "${ins[0]}" "$nb" "${ins[1]}" >>"$RAW/callgrind.tsv"
  # the top functions of the bigger run's busiest process, for whoever profiles
  big=$(grep -H '^totals:' "$CG_DIR"/cg.* | sort -t' ' -k2 -n | tail -n 1 | cut -d: -f1)
  if [[ -n "$big" ]] && command -v callgrind_annotate >/dev/null; then
    callgrind_annotate "$big" 2>/dev/null | head -n 45 >"$RAW/callgrind-$t-top.txt" || true
  fi
}

# ---------------------------------------------------------------- report
fmt_int() { awk -v v="$1" 'BEGIN { if (v !~ /^-?[0-9.]+$/) { print v; exit }
  s = sprintf("%.0f", v); n = ""; neg = (s ~ /^-/); if (neg) s = substr(s, 2)
  while (length(s) > 3) { n = "," substr(s, length(s) - 2) n; s = substr(s, 1, length(s) - 3) }
  print (neg ? "-" : "") s n }'; }

label() {
  case $1 in
    plughost-async) echo "plughost, async hello" ;;
    plughost-sync)  echo "plughost, sync hello" ;;
    nginx) echo "nginx" ;; kore) echo "Kore" ;; uvicorn) echo "uvicorn+FastAPI" ;;
    *) echo "$1" ;;
  esac
}

machine_line() {
  local cpu mem
  cpu=$(awk -F: '/^model name/ { sub(/^ +/, "", $2); print $2; exit }' /proc/cpuinfo)
  mem=$(awk '/^MemTotal:/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
  printf '%s, %s cores, %s RAM, Linux %s' "${cpu:-unknown CPU}" "$(nproc)" "$mem" "$(uname -r)"
}

versions_line() {
  local ng ko uv fa wk h2 vg pyv loop http
  ng=$(nginx -v 2>&1 | sed 's/.*nginx\///')
  ko=$(kore -v 2>/dev/null | awk '{ print $1 }')
  read -r uv fa pyv loop http <<<"$("$PY" -c 'import importlib.util as u, platform, fastapi, uvicorn
print(uvicorn.__version__, fastapi.__version__, platform.python_version(),
      "uvloop" if u.find_spec("uvloop") else "asyncio", "httptools" if u.find_spec("httptools") else "h11")' \
    2>/dev/null || echo "- - - - -")"
  wk=$(wrk -v 2>&1 | awk 'NR == 1 { print $2 }')
  h2=$(h2load --version 2>/dev/null | awk '{ print $NF; exit }')
  vg=$(valgrind --version 2>/dev/null | sed 's/valgrind-//')
  printf 'nginx %s, Kore %s, uvicorn %s + FastAPI %s (Python %s, %s loop, %s parser), wrk %s, h2load %s, valgrind %s, syscalls by %s' \
    "${ng:--}" "${ko:--}" "$uv" "$fa" "$pyv" "$loop" "$http" "${wk:--}" "${h2:--}" "${vg:--}" "${SYS_TOOL:--}"
}

write_cost_tables() {
  local t cols="" sep="" line
  for t in $TARGETS; do cols+=" $(label "$t") |"; sep+=" ---: |"; done
  printf '| GET /hello |%s\n| --- |%s\n' "$cols" "$sep"
  row() {   # row TITLE ARRAY FORMAT
    local -n arr=$2
    local fmt=$3 v line="| $1 |"
    for t in $TARGETS; do
      v=${arr[$t]:--}
      case $fmt in
        int) v=$(fmt_int "$v") ;;
        2) [[ $v =~ ^[0-9.]+$ ]] && v=$(printf '%.2f' "$v") ;;
        cg) [[ " $CG_TARGETS " == *" $t "* ]] || v="not run"
            [[ $v =~ ^[0-9.]+$ ]] && v=$(fmt_int "$v") ;;
      esac
      line+=" $v |"
    done
    echo "$line"
  }
  row "req/s (wrk -t1 -c$HELLO_CONNS, median of $ROUNDS)" C_RPS int
  row "p99 latency, ms (same runs, median)" C_P99 2
  row "server CPU time per request, µs (user+sys, median of $ROUNDS)" C_CPU 2
  row "user-space instructions per request (callgrind)" C_INS cg
  row "syscalls per request ($SYS_TOOL)" C_SYS 2
  # ratios
  local base
  base=${C_RPS[plughost-async]:-}
  line="| req/s ÷ plughost async |"
  for t in $TARGETS; do
    line+=" $(awk -v a="${C_RPS[$t]:-}" -v b="$base" 'BEGIN { if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) printf "%.2f", a / b; else print "-" }') |"
  done
  echo "$line"
  base=${C_CPU[nginx]:-}
  line="| CPU per request ÷ nginx's |"
  for t in $TARGETS; do
    line+=" $(awk -v a="${C_CPU[$t]:-}" -v b="$base" 'BEGIN { if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) printf "%.2f", a / b; else print "-" }') |"
  done
  echo "$line"
}

# The wide table: one row per concurrency, one column per server+endpoint.
write_seed_summary() {
  awk -F'\t' -v servers="$SEED_SERVERS" -v conc="$CONCURRENCY" '
    function lab(s) { return s == "uvicorn" ? "uvicorn+FastAPI" : s }
    function num(v, d) { return v ~ /^[0-9.]+$/ ? sprintf("%." d "f", v) : "-" }
    function grp(v,   s, n) { s = sprintf("%.0f", v); n = ""
      while (length(s) > 3) { n = "," substr(s, length(s) - 2) n; s = substr(s, 1, length(s) - 3) }
      return s n }
    { k = $1 SUBSEP $2 SUBSEP $3; rps[k] = $6; p99[k] = $8; pss[k] = $11 }
    END {
      ns = split(servers, S, " "); nc = split(conc, C, " "); ne = split("/async /sync", E, " ")
      h = "| connections |"; d = "| ---: |"
      for (e = 1; e <= ne; e++) for (s = 1; s <= ns; s++) { h = h " " lab(S[s]) " " E[e] " |"; d = d " --- |" }
      print h; print d
      for (c = 1; c <= nc; c++) {
        l = "| " grp(C[c]) " |"
        for (e = 1; e <= ne; e++) for (s = 1; s <= ns; s++) {
          k = S[s] SUBSEP E[e] SUBSEP C[c]
          if (!(k in rps) || rps[k] !~ /^[0-9.]+$/) { l = l " - |"; continue }
          r = rps[k] + 0
          l = l " " (r >= 100 ? grp(r) : num(r, 1)) " req/s, p99 " num(p99[k] / 1000, 2) " s, " num(pss[k], 1) " MiB |"
        }
        print l
      }
    }' "$RAW/seed.tsv"
}

write_seed_detail() {
  printf '| server | endpoint | connections | responses | 2xx req/s | p50 ms | p99 ms | non-2xx | socket errors c/r/w/t | peak Pss MiB | peak RSS MiB | note |\n'
  printf '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n'
  awk -F'\t' 'function ms(v) { return v !~ /^[0-9.]+$/ ? v : (v >= 100 ? sprintf("%.0f", v) : sprintf("%.2f", v)) }
    { printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
      ($1 == "uvicorn" ? "uvicorn+FastAPI" : $1), $2, $3, $4, $6, ms($7), ms($8), $9, $10, $11, $12, $14 }' "$RAW/seed.tsv"
}

draw_chart() {     # chart.png from raw/seed.tsv
  command -v gnuplot >/dev/null || { fail_note "gnuplot not installed: no chart"; return 0; }
  local s e f plots_r="" plots_p="" plots_m="" col title dt
  for e in /async /sync; do
    for s in $SEED_SERVERS; do
      f="$RAW/chart-$s-${e#/}.dat"
      awk -F'\t' -v s="$s" -v e="$e" '$1 == s && $2 == e && $6 ~ /^[0-9.]+$/ { print $3, $6, $8 / 1000, $11 }' \
        "$RAW/seed.tsv" | sort -n >"$f"
      [[ -s "$f" ]] || continue
      col=$([[ $s == plughost ]] && echo '#1f5fbf' || echo '#d9541e')
      dt=$([[ $e == /async ]] && echo 1 || echo 2)
      title="$([[ $s == uvicorn ]] && echo 'uvicorn+FastAPI' || echo "$s") $e"
      plots_r+="'$f' using 1:2 with linespoints lw 2 pt 7 dt $dt lc rgb '$col' title '$title', "
      plots_p+="'$f' using 1:3 with linespoints lw 2 pt 7 dt $dt lc rgb '$col' title '$title', "
      plots_m+="'$f' using 1:4 with linespoints lw 2 pt 7 dt $dt lc rgb '$col' title '$title', "
    done
  done
  [[ -n "$plots_r" ]] || { fail_note "no seed data to chart"; return 0; }
  # The most a run of DURATION can count: whole rounds of sleeps, every
  # connection (async) or every pool thread (sync) busy from the start
  local k ideal_async ideal_sync
  k=$(awk -v d="$(to_secs "$DURATION")" -v s="$SLEEP" 'BEGIN { printf "%.6f", int(d / s + 1e-9) / d }')
  ideal_async="x * $k"
  ideal_sync="(x < $SYNC_THREADS ? x : $SYNC_THREADS) * $k"
  cat >"$RAW/chart.gp" <<EOF
set terminal pngcairo size 1500,520 font 'DejaVu Sans,11'
set output '$OUT/chart.png'
set multiplot layout 1,3 title "GET /sync and /async (each sleeps ${SLEEP} s) — plughost vs uvicorn+FastAPI, $(date -u '+%Y-%m-%d'), $(nproc) cores, wrk -t$SEED_THREADS -d$DURATION" font ',13'
set logscale x
set xlabel 'concurrent connections'
set grid
set key top left
set format x '%g'
set title '2xx responses per second'
set logscale y
set format y '%g'
set samples 400
plot $plots_r $ideal_async with lines lc rgb '#555555' dt 3 title 'ideal async: every connection', $ideal_sync with lines lc rgb '#555555' dt 4 title 'ideal sync: ${SYNC_THREADS} threads'
set title 'p99 latency (s), completed responses'
set key top left
plot $plots_p $SLEEP with lines lc rgb '#555555' dt 3 title 'the sleep: ${SLEEP} s'
set title 'server peak memory (MiB, Pss summed over its processes)'
plot ${plots_m%, }
unset multiplot
EOF
  gnuplot "$RAW/chart.gp" 2>"$RAW/chart.gp.log" || { cat "$RAW/chart.gp.log" >&2; fail_note "gnuplot failed"; }
}

# run_header : the lines saying when, on what and how busy
run_header() {
  local elapsed=$((SECONDS - T_START)) commit dirty=""
  commit=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
  [[ -z "$(git -C "$REPO" status --porcelain -- server plugins sdk 2>/dev/null)" ]] || dirty=" (server/, plugins/ or sdk/ modified)"
  printf 'Run %s, commit %s%s, by `tests/bench/compare.sh` in %dm%02ds.\n\n' \
    "$(date -u '+%Y-%m-%d %H:%M UTC')" "$commit" "$dirty" $((elapsed / 60)) $((elapsed % 60))
  printf 'Machine: %s; load average %s at the start, %s at the end.\n\n' "$(machine_line)" "$LOAD_START" "$(cut -d' ' -f1-3 /proc/loadavg)"
  [[ -z "$BUSY_NOTE" ]] || printf '**Warning:** %s\n\n' "$BUSY_NOTE"
  if [[ ${#FAILED[@]} -gt 0 ]]; then
    printf '**Problems in this run:**\n\n'; printf -- '- %s\n' "${FAILED[@]}"; printf '\n'
  fi
}

write_results() {
  local f="$OUT/results.md"
  {
    printf '# plughost vs nginx, Kore, uvicorn+FastAPI%s\n\n' "${SMOKE:+ — SMOKE run (tiny counts: proves the command, not the numbers)}"
    run_header
    printf 'Peers: %s.\n\n' "$(versions_line)"
    if [[ $ONLY != cost ]]; then
      printf '## The seed: sync vs async, C vs Python\n\n'
      printf '![req/s, p99 and memory against concurrency](chart.png)\n\n'
      printf 'GET /sync and GET /async, each sleeping %s s, `wrk -t%s -c<connections> -d%s --timeout %s`, a fresh server per run. ' \
        "$SLEEP" "$SEED_THREADS" "$DURATION" "$SEED_TIMEOUT"
      printf 'plughost: `sleep_sync` on %s pool threads (sync_queue %s), `sleep_async`; uvicorn+FastAPI: a `def` endpoint on AnyIO'"'"'s 40-thread pool, an `async def` one (fastapi_app.py). ' \
        "$SYNC_THREADS" "${SYNC_QUEUE:-max(1024, connections): every request queues, none is shed}"
      printf 'Ideal: /async `connections / %s s`; /sync `%s threads / %s s` = %s req/s whatever the connections (fewer with fewer connections). ' \
        "$SLEEP" "$SYNC_THREADS" "$SLEEP" "$(awk -v t="$SYNC_THREADS" -v s="$SLEEP" 'BEGIN { printf "%g", t / s }')"
      printf 'wrk counts the responses that arrive within its %s, that is %s whole rounds of sleeps, so the most a run can show is %s of that (the grey lines of the chart). ' \
        "$DURATION" "$(awk -v d="$(to_secs "$DURATION")" -v s="$SLEEP" 'BEGIN { printf "%d", int(d / s + 1e-9) }')" \
        "$(awk -v d="$(to_secs "$DURATION")" -v s="$SLEEP" 'BEGIN { printf "%.3f", int(d / s + 1e-9) * s / d }')"
      printf 'Latencies are of the responses completed within the run: a queued /sync request still waiting at the end is not counted, so at high concurrency /sync p99 is bounded by the run'"'"'s length. '
      printf 'Memory: the highest sum of Pss (and of Rss) over the server'"'"'s processes, sampled every 0.5 s.\n\n'
      write_seed_summary; printf '\n'
      printf '<details><summary>every run</summary>\n\n'; write_seed_detail; printf '\n</details>\n\n'
    fi
    if [[ $ONLY != seed ]]; then
      printf '## What one GET /hello costs\n\n'
      write_cost_tables; printf '\n'
      printf 'Each server has 1 worker process. req/s: `wrk -t1 -c%s -d%s`%s, a fresh server per run, the targets interleaved in %s round(s). ' \
        "$HELLO_CONNS" "$HELLO_DURATION" "$([[ $WARMUP == 0 ]] && echo ' (no warm-up)' || echo " after a $WARMUP warm-up")" "$ROUNDS"
      printf 'CPU: utime+stime of the server'"'"'s whole process tree (/proc) before and after `h2load --h1 -c%s -n %s` (%s for uvicorn), on the same server right after its wrk run. ' \
        "$HELLO_CONNS" "$(fmt_int "$CPU_REQUESTS")" "$(fmt_int "$CPU_REQUESTS_PY")"
      local sa sb ca cb
      read -r sa sb <<<"$SYSCALL_REQUESTS"; read -r ca cb <<<"$CG_REQUESTS"
      printf 'Syscalls: counted by %s over all the server'"'"'s threads during h2load runs of %s and %s requests (%s for uvicorn), difference ÷ difference. ' \
        "$([[ $SYS_TOOL == perf ]] && echo "perf's raw_syscalls:sys_enter tracepoint" || echo 'strace -c -f')" \
        "$(fmt_int "$sa")" "$(fmt_int "$sb")" "$(fmt_int "${SYSCALL_REQUESTS_PY% *}")/$(fmt_int "${SYSCALL_REQUESTS_PY#* }")"
      printf 'Instructions: `valgrind --tool=callgrind --trace-children=yes`, two fresh servers serving %s and %s requests (%s for uvicorn), the difference of the Ir totals over all processes ÷ the difference of the counts, so start-up and shut-down cancel out. ' \
        "$(fmt_int "$ca")" "$(fmt_int "$cb")" "$(fmt_int "${CG_REQUESTS_PY% *}")/$(fmt_int "${CG_REQUESTS_PY#* }")"
      printf 'The machine has %s cores shared by the load generator and the server, so the req/s are the pair'"'"'s; CPU, syscalls and instructions are the server'"'"'s alone.\n\n' "$(nproc)"
      printf '<details><summary>every round</summary>\n\n| target | round | req/s | p99 ms | CPU µs/request | note |\n| --- | ---: | ---: | ---: | ---: | --- |\n'
      awk -F'\t' '{ printf "| %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $7 }' "$RAW/cost-rounds.tsv"
      printf '\n</details>\n\n'
    fi
    printf 'Raw data: `raw/` (wrk and h2load outputs, the syscall and callgrind counts, the top callgrind entries; the repository keeps the `.tsv` files and the callgrind tops).\n'
  } >"$f"
}

# summary.md: what the top-level README shows (UPDATE_README=1, ONLY=readme)
write_summary() {
  {
    run_header
    if [[ $ONLY != cost ]]; then
      printf '![req/s, p99 and memory against concurrency](chart.png)\n\n'
      printf 'GET /sync and GET /async sleeping %s s, `wrk -t%s -d%s`, 2xx req/s, p99 and the server'"'"'s peak memory (Pss):\n\n' \
        "$SLEEP" "$SEED_THREADS" "$DURATION"
      write_seed_summary; printf '\n'
    fi
    if [[ $ONLY != seed ]]; then write_cost_tables; printf '\n'; fi
    printf 'How each figure is measured, every run and round, the peers'"'"' versions: [results.md](results.md).\n'
  } >"$OUT/summary.md"
}

update_readme() {    # OUT/summary.md between the compare.sh markers of README.md
  local rel begin='<!-- compare.sh:begin -->' end='<!-- compare.sh:end -->' readme="$REPO/README.md"
  case "$OUT/" in "$REPO/"*) rel=${OUT#"$REPO"/} ;; *) warn "UPDATE_README: $OUT is not inside $REPO — README left alone"; return 1 ;; esac
  [[ -s "$OUT/summary.md" ]] || { warn "no $OUT/summary.md — README left alone"; return 1; }
  if ! grep -qxF "$begin" "$readme" || ! grep -qxF "$end" "$readme"; then
    warn "README.md has no compare.sh markers — left alone"; return 1
  fi
  sed -e "s#](chart.png)#]($rel/chart.png)#g" -e "s#](results.md)#]($rel/results.md)#g" "$OUT/summary.md" >"$TMP/snippet.md"
  awk -v b="$begin" -v e="$end" -v f="$TMP/snippet.md" '
    $0 == b { print; while ((getline l < f) > 0) print l; skip = 1; next }
    $0 == e { skip = 0 }
    !skip' "$readme" >"$TMP/README.new" && cat "$TMP/README.new" >"$readme"
  log "README.md updated from $rel/summary.md"
}

# ---------------------------------------------------------------- main
if [[ $ONLY == readme ]]; then
  OUT=$(cd "$OUT" && pwd) || die "no $OUT"
  update_readme || exit 1
  exit 0
fi
if command -v apt-get >/dev/null; then install_missing; fi
for t in wrk h2load curl cc gnuplot; do command -v "$t" >/dev/null || die "$t not found"; done
mkdir -p "$OUT" "$RAW" || die "cannot create $OUT"
OUT=$(cd "$OUT" && pwd); RAW="$OUT/raw"
rm -f "$RAW"/* "$OUT/results.md" "$OUT/summary.md" "$OUT/chart.png"

# 10,000 connections need 10,000 fds in wrk and in the server
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
for c in $CONCURRENCY; do
  (( c + 200 <= $(ulimit -n) )) || warn "ulimit -n is $(ulimit -n): the $c-connection runs will fail"
done
(( $(to_secs "$SEED_TIMEOUT") > ${SLEEP%.*} )) || warn "SEED_TIMEOUT ($SEED_TIMEOUT) is not above SLEEP (${SLEEP}s)"
ulimit -c 0

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
BUSY_NOTE=""
other=$(pgrep -x 'wrk|h2load' 2>/dev/null | wc -l || true)
if (( other > 0 )) || awk -v l="${LOAD_START%% *}" 'BEGIN { exit !(l >= 1.0) }'; then
  BUSY_NOTE="the machine was busy at the start (load average $LOAD_START, $other other load generator(s)): the numbers are skewed"
  warn "$BUSY_NOTE"
fi

: >"$RAW/seed.tsv"; : >"$RAW/cost-rounds.tsv"; : >"$RAW/syscalls.tsv"; : >"$RAW/callgrind.tsv"
build_plughost || { write_results; write_summary; exit 3; }
build_extras

if [[ $ONLY != cost ]]; then
  for c in $CONCURRENCY; do
    for ep in /async /sync; do
      for s in $SEED_SERVERS; do seed_run "$s" "$ep" "$c"; done
    done
  done
fi

if [[ $ONLY != seed ]]; then
  [[ " $TARGETS $CG_TARGETS " == *" kore "* ]] && { build_kore || true; }
  pick_syscall_tool || true
  for ((r = 1; r <= ROUNDS; r++)); do
    for t in $TARGETS; do cost_run "$t" "$r"; done
  done
  for t in $TARGETS; do
    C_RPS[$t]=$(median_of "$t" 3); C_P99[$t]=$(median_of "$t" 4); C_CPU[$t]=$(median_of "$t" 5)
  done
  for t in $CG_TARGETS; do callgrind_target "$t"; done
fi

[[ $ONLY == cost ]] || draw_chart
write_results
write_summary
[[ -z "${UPDATE_README:-}" ]] || update_readme || true
log "done in $(( (SECONDS - T_START) / 60 ))m$(( (SECONDS - T_START) % 60 ))s: $OUT/results.md, $OUT/chart.png"
cat "$OUT/results.md"
[[ ${#FAILED[@]} -eq 0 ]] || exit 4
