#!/usr/bin/env bash
# bench_memory.sh — issue 14's "seed at scale", run by hand: what a slow
# connection costs. The seed's endpoints at CONNS (10,000) connections:
#
#   /async  sleep_async (a 2 s loop timer): every connection has one request
#           sleeping at a time; the goal is all CONNS/SLEEP*DURATION
#           requests done, p99 <= 2.1 s and the server's peak memory <= 32 MB
#           (Pss summed over the supervisor and its worker, workers = 1)
#   /sync   sleep_sync on SYNC_THREADS pool threads: SYNC_THREADS/SLEEP
#           answers a second, the rest of the connections overflow the pool
#           queue (sync_queue) and get 503; a probe client
#           (latency_probe.py) times 503s and 200s apart, which wrk cannot
#
# Each row starts a fresh server on a free loopback port (max_connections
# above CONNS, so a probe still gets in), reads its idle Pss, runs
#   wrk -t1 -c CONNS -d DURATION --timeout WRK_TIMEOUT --latency
# (bounded by an outer `timeout`) while sampling the tree's Pss every
# 0.5 s (/proc/PID/smaps_rollup), then stops it (SIGTERM to its group,
# SIGKILL after 5 s). With BASE set, the same rows run for a build of that
# git ref too, interleaved round by round, so both see the same machine.
# The numbers of one run are comparable with each other only: the machine
# is shared, p99 moves by 100 ms from run to run.
#
# Environment (all optional):
#   CONNS=10000          connections (the fd limit is raised to CONNS+1000)
#   DURATION=12s         wrk duration of each row
#   WRK_TIMEOUT=10s      wrk --timeout
#   SLEEP=2              seconds slept by /async and /sync
#   SYNC_THREADS=40      sync_threads (/sync answers SYNC_THREADS/SLEEP a second)
#   SYNC_QUEUE=1024      sync_queue
#   ENDPOINTS="/async /sync"
#   ROUNDS=1             rounds of every row (with BASE: base, then this tree)
#   BASE=REF             also measure a clean `git archive REF` build (e.g. main)
#   BUILD_DIR=DIR        this tree's build (default <repo>/build-bench-memory)
#   SKIP_BUILD=1         reuse the builds as they are
#   PORT_BASE=18720      first port tried
#   STARTUP_TIMEOUT=20   seconds a server gets to answer after start
#   KEEP_TMP=1           keep the temp folder (configs, logs, raw wrk output)
#   RESULTS=FILE         also write the table to FILE
# Exit status: 0 done; 1 setup failed; 3 a build failed; 4 a server died
# or logged an error during a row.
set -euo pipefail

HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
REPO=$(cd -- "$HERE/../.." && pwd)

CONNS=${CONNS:-10000}
DURATION=${DURATION:-12s}
WRK_TIMEOUT=${WRK_TIMEOUT:-10s}
SLEEP=${SLEEP:-2}
SYNC_THREADS=${SYNC_THREADS:-40}
SYNC_QUEUE=${SYNC_QUEUE:-1024}
ENDPOINTS=${ENDPOINTS:-/async /sync}
ROUNDS=${ROUNDS:-1}
BASE=${BASE:-}
PORT_BASE=${PORT_BASE:-18720}
STARTUP_TIMEOUT=${STARTUP_TIMEOUT:-20}

log()  { printf '[bench-memory] %s\n' "$*" >&2; }
warn() { printf '[bench-memory] WARNING: %s\n' "$*" >&2; }
die()  { printf '[bench-memory] ERROR: %s\n' "$*" >&2; exit 1; }

DUR_S=$(to_secs "$DURATION")
[[ "$DUR_S" =~ ^[0-9]+$ && "$DUR_S" -gt "${SLEEP%.*}" ]] || die "DURATION must be whole seconds above SLEEP"
[[ "$CONNS" =~ ^[0-9]+$ && "$CONNS" -ge 1 ]] || die "CONNS must be a number"
command -v wrk >/dev/null || die "wrk is not installed (apt-get install wrk)"
command -v python3 >/dev/null || die "python3 is not installed"

FDS=$((CONNS + 1000))   # per process: wrk and the server each hold CONNS sockets
ulimit -n "$FDS" 2>/dev/null || die "cannot raise the fd limit to $FDS (hard limit $(ulimit -Hn)); lower CONNS"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/plughost-bench-memory.XXXXXX")
PIDS=()
WRK_PID=""
FAILED=0

stop_all_on_exit

NEXT_PORT=$PORT_BASE

pss_kib() {      # Pss summed over the tree of PID, in KiB (lib.sh's tree_mem_kib)
  local pss _
  read -r pss _ <<<"$(tree_mem_kib "$1")"
  echo "$pss"
}
CLK_TCK=$(getconf CLK_TCK)

# ---------------------------------------------------------------- builds
# build_at SRC BUILD LOG : Release build of plughost and the two plugins
build_at() {
  local src=$1 build=$2 blog=$3
  if [[ -z "${SKIP_BUILD:-}" ]]; then
    log "building plughost (Release) from $src in $build"
    if ! { cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
           && cmake --build "$build" -j2 --target plughost sleep_async sleep_sync; } >"$blog" 2>&1; then
      warn "build of $src FAILED:"; grep -E -A3 'error|Error' "$blog" | head -n 30 >&2 || tail -n 20 "$blog" >&2
      return 1
    fi
  fi
  [[ -x "$build/plughost" && -e "$build/plugins/sleep_async.so" && -e "$build/plugins/sleep_sync.so" ]] \
    || { warn "$build lacks plughost or a plugin"; return 1; }
}

BUILDS=()                # "name=builddir"
if [[ -n "$BASE" ]]; then
  base_root="$REPO/build-bench-memory-base"
  if [[ -z "${SKIP_BUILD:-}" ]]; then
    sha=$(git -C "$REPO" rev-parse --verify "$BASE^{commit}") || die "BASE=$BASE is not a commit"
    # another commit: build from scratch (the export's file times are the
    # commit's, older than the objects of the previous one)
    [[ "$(cat "$base_root/build/.source-commit" 2>/dev/null)" == "$sha" ]] || rm -rf "$base_root/build"
    rm -rf "$base_root/src"; mkdir -p "$base_root/src" "$base_root/build"
    git -C "$REPO" archive "$sha" | tar -x -C "$base_root/src"
    echo "$sha" >"$base_root/commit"
    echo "$sha" >"$base_root/build/.source-commit"
  fi
  build_at "$base_root/src" "$base_root/build" "$TMP/build-base.log" || exit 3
  BUILDS+=("base ${BASE:0:12} ($(cut -c1-7 "$base_root/commit" 2>/dev/null || echo '?'))=$base_root/build")
fi
here_desc="this tree ($(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')"
[[ -n $(git -C "$REPO" status --porcelain -- server plugins 2>/dev/null) ]] && here_desc="$here_desc + changes"
build_at "$REPO" "${BUILD_DIR:-$REPO/build-bench-memory}" "$TMP/build.log" || exit 3
BUILDS+=("$here_desc)=${BUILD_DIR:-$REPO/build-bench-memory}")

# ---------------------------------------------------------------- one row
# start_plughost BUILD PORT : config with both seed routes; sets SRV_PID
start_plughost() {
  local build=$1 port=$2 conf="$TMP/plughost-$2.ini"
  cat >"$conf" <<EOF
[server]
listen = 127.0.0.1:$port
workers = 1
max_connections = $((CONNS + 100))
sync_threads = $SYNC_THREADS
sync_queue = $SYNC_QUEUE
plugin_dir = $build/plugins
watch = false

[route /async]
plugin = sleep_async
seconds = $SLEEP

[route /sync]
plugin = sleep_sync
seconds = $SLEEP
EOF
  start_server "$TMP/plughost-$port.log" "$build/plughost" -c "$conf"
  wait_http "$SRV_PID" "$port" / "$TMP/plughost-$port.log"
}

ROWS=()
# run_row NAME BUILD ENDPOINT : one measured row into ROWS
run_row() {
  local name=$1 build=$2 ep=$3 port out idle peak=0 v t0 t1 probe="" probe_pid="" reqs p50 p99 non2xx errs
  free_port
  if ! start_plughost "$build" "$PORT"; then
    ROWS+=("| $name | $ep | server did not start | | | | | | | |"); FAILED=1; return
  fi
  port=$PORT
  sleep 1
  idle=$(pss_kib "$SRV_PID")
  t0=$(tree_cpu_ticks "$SRV_PID")
  out="$TMP/wrk-$port.out"
  timeout $((DUR_S + 30)) wrk -t1 -c"$CONNS" -d"$DURATION" --timeout "$WRK_TIMEOUT" --latency \
    "http://127.0.0.1:$port$ep" >"$out" 2>&1 &
  WRK_PID=$!
  if [[ $ep == /sync ]]; then   # from a quarter into the run, for half of it
    (sleep $((DUR_S / 4)) && exec timeout $((DUR_S / 2 + 10)) python3 "$HERE/latency_probe.py" \
       127.0.0.1 "$port" "$ep" $((DUR_S / 2)) 20) >"$TMP/probe-$port.out" 2>&1 &
    probe_pid=$!
  fi
  while kill -0 "$WRK_PID" 2>/dev/null; do
    v=$(pss_kib "$SRV_PID"); ((v > peak)) && peak=$v
    sleep 0.5
  done
  wait "$WRK_PID" || true
  WRK_PID=""
  if [[ -n $probe_pid ]]; then
    wait "$probe_pid" || true
    probe=$(tr '\n' ';' <"$TMP/probe-$port.out")
    probe=${probe:-no answer}
  fi
  t1=$(tree_cpu_ticks "$SRV_PID")
  if ! kill -0 "$SRV_PID" 2>/dev/null; then warn "$name: the server died during $ep"; FAILED=1; fi
  if grep -qE '\[(error|crit)\]' "$TMP/plughost-$port.log"; then
    warn "$name: error lines in the server log:"; grep -E '\[(error|crit)\]' "$TMP/plughost-$port.log" | head -5 >&2
    FAILED=1
  fi
  stop_server "$SRV_PID"
  reqs=$(awk '/requests in/ { print $1 }' "$out")
  p50=$(awk '$1 == "50%" { print $2 }' "$out")
  p99=$(awk '$1 == "99%" { print $2 }' "$out")
  non2xx=$(awk '/Non-2xx/ { print $NF }' "$out")
  errs=$(awk '/Socket errors/ { sub(/.*Socket errors: /, ""); print }' "$out")
  local ok=$(( ${reqs:-0} - ${non2xx:-0} ))
  local cpu per_conn
  cpu=$(awk -v t=$((t1 - t0)) -v h="$CLK_TCK" 'BEGIN { printf "%.2f", t / h }')
  per_conn=$(awk -v p="$peak" -v i="$idle" -v c="$CONNS" 'BEGIN { printf "%.2f", (p - i) / c }')
  ROWS+=("| $name | $ep | ${reqs:-?} | $ok | ${non2xx:-0} | ${p50:-?} | ${p99:-?} | $(mib "$idle") | **$(mib "$peak")** | $per_conn | $cpu | ${errs:-none} | ${probe:-} |")
  log "$name $ep: requests ${reqs:-?} (2xx $ok), p99 ${p99:-?}, peak Pss $(mib "$peak") MiB, cpu ${cpu}s ${probe:+; probe $probe}"
}

for ((round = 1; round <= ROUNDS; round++)); do
  for ep in $ENDPOINTS; do
    for b in "${BUILDS[@]}"; do
      run_row "${b%%=*}" "${b#*=}" "$ep"
    done
  done
done

# answers come in rounds, at SLEEP, 2*SLEEP, ... before the end of the run
rounds=$(awk -v s="$SLEEP" -v d="$DUR_S" 'BEGIN { printf "%d", (d - 0.001) / s }')
expect_async=$((CONNS * rounds))
expect_sync=$((SYNC_THREADS * rounds))
{
  echo "### plughost: memory and latency at $CONNS slow connections"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(uname -r); wrk -t1 -c$CONNS -d$DURATION --timeout $WRK_TIMEOUT; \`seconds = $SLEEP\`, workers = 1, sync_threads = $SYNC_THREADS, sync_queue = $SYNC_QUEUE."
  echo "Expected: /async $expect_async requests ($rounds rounds of $SLEEP s on $CONNS connections before the end); /sync $expect_sync 2xx ($rounds rounds of $SYNC_THREADS threads: $SYNC_THREADS/$SLEEP a second), the rest 503 once the pool's queue is full (a round ending right at the end of the run may land or not)."
  echo "Pss is summed over the supervisor and the worker (/proc/PID/smaps_rollup), sampled every 0.5 s; per connection = (peak − idle) / connections, KiB."
  echo
  echo "| build | endpoint | requests | 2xx | non-2xx | p50 | p99 | idle MiB | peak MiB | KiB/conn | CPU s | socket errors | probe (one client, by status) |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${ROWS[@]}"
} | tee "${RESULTS:-/dev/null}"
((FAILED == 0)) || exit 4
