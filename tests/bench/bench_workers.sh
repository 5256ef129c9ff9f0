#!/usr/bin/env bash
# bench_workers.sh — plughost's worker processes against nginx's, run by hand
# (never by the test suite or CI). Prints one table with two parts:
#
#   hello: GET /hello, plughost `workers = 1` and `2` against nginx
#          `worker_processes 1` and `2` (`return 200 "Hello, World!"`),
#          ROUNDS interleaved rounds (a fresh server for every run), medians:
#          wrk req/s, and the CPU time (utime+stime) of the server's whole
#          process tree per request; for plughost workers = 2, each worker's
#          share of the requests (its status document's requests_done, and
#          its CPU time).
#   crash: CRASH_DURATION of wrk against plughost workers = 2 and nginx with
#          2 workers while KILLS times the oldest worker gets `kill -SEGV`
#          (every CRASH_DURATION / (KILLS + 1)): wrk's requests, socket errors
#          and non-2xx, errors per kill, and per kill the time until a new
#          worker pid appears among the supervisor's (master's) children and
#          until that new pid answers a request.
#
# Everything listens on and is driven over 127.0.0.1; every wrk run is
# bounded by its -d and an outer `timeout`; a trap kills everything on exit.
#
#   tests/bench/bench_workers.sh                              # full run, ~4 minutes
#   DURATION=3s CRASH_DURATION=10s tests/bench/bench_workers.sh   # smoke run, ~1.5 minutes
#
# Environment (all optional):
#   DURATION=10s         wrk duration of each hello run
#   WARMUP=2s            unmeasured wrk run before each hello run ("0" = none)
#   ROUNDS=3             interleaved rounds of the hello part (median reported)
#   CRASH_DURATION=30s   wrk duration of each crash run
#   KILLS=5              SIGSEGVs per crash run
#   KILL_INTERVAL=       seconds between kills (default CRASH_DURATION/(KILLS+1))
#   RESPAWN_TIMEOUT=5    seconds to wait for a killed worker's replacement to answer
#   VICTIM=oldest        which worker each kill hits: oldest (smallest start time) or random
#   THREADS=2            wrk threads
#   CONNS=64             wrk connections
#   WRK_TIMEOUT=5s       wrk --timeout
#   ONLY=hello|crash     run one part only
#   SERVERS="plughost nginx"
#   PORT_BASE=18880      first port tried; each start takes the next free one
#   BUILD_DIR=DIR        build folder (default <repo>/build-bench)
#   SKIP_BUILD=1         reuse an existing build folder (no cmake)
#   SKIP_INSTALL=1       never call apt-get
#   KEEP_TMP=1           keep the temp folder (configs, logs, raw wrk output)
#   RESULTS=FILE         also write the final table to FILE
#
# Exit status: 3 plughost could not be built; 4 in the crash run plughost died,
# or a killed worker was not replaced by one that answers within RESPAWN_TIMEOUT.
set -euo pipefail

# ---------------------------------------------------------------- settings
HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
REPO=$(cd -- "$HERE/../.." && pwd)
BUILD=${BUILD_DIR:-$REPO/build-bench}

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
ROUNDS=${ROUNDS:-3}
CRASH_DURATION=${CRASH_DURATION:-30s}
KILLS=${KILLS:-5}
KILL_INTERVAL=${KILL_INTERVAL:-}
RESPAWN_TIMEOUT=${RESPAWN_TIMEOUT:-5}
VICTIM=${VICTIM:-oldest}
THREADS=${THREADS:-2}
CONNS=${CONNS:-64}
WRK_TIMEOUT=${WRK_TIMEOUT:-5s}
ONLY=${ONLY:-all}
SERVERS=${SERVERS:-plughost nginx}
PORT_BASE=${PORT_BASE:-18880}
STARTUP_TIMEOUT=${STARTUP_TIMEOUT:-20}

STATUS_PATH=/_plughost/status   # plughost: JSON with "worker", "pid", "requests_done"
NGINX_PID_PATH=/_pid            # nginx: `return 200 "$pid"` (the worker's pid)
CLK_TCK=$(getconf CLK_TCK)

case "$ONLY" in all|hello|crash) ;; *) echo "ONLY must be hello or crash" >&2; exit 2 ;; esac
case "$VICTIM" in oldest|random) ;; *) echo "VICTIM must be oldest or random" >&2; exit 2 ;; esac

log()  { printf '[bench] %s\n' "$*" >&2; }
warn() { printf '[bench] WARNING: %s\n' "$*" >&2; }
die()  { printf '[bench] ERROR: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- packages
PKGS=(wrk nginx-light build-essential cmake pkg-config libevent-dev node-llhttp
      libcjson-dev libinih-dev procps curl)


# ---------------------------------------------------------------- temp + cleanup
TMP=$(mktemp -d "${TMPDIR:-/tmp}/plughost-bench-workers.XXXXXX")
PIDS=()          # process-group leaders we started (each via setsid); one at a time
WRK_PID=""       # the `timeout wrk` in progress, if any
SLEEPFD=""       # a fifo nobody writes: `read -t` on it sleeps without a fork

cleanup() {
  local pid
  if [[ -n "$WRK_PID" ]]; then kill "$WRK_PID" 2>/dev/null || true; fi
  for pid in "${PIDS[@]}"; do stop_server "$pid"; done
  if [[ -n "$SLEEPFD" ]]; then exec {SLEEPFD}>&-; fi
  if [[ -n "${KEEP_TMP:-}" ]]; then
    log "kept temp folder: $TMP"
  else
    rm -rf "$TMP"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkfifo "$TMP/never"
exec {SLEEPFD}<>"$TMP/never"

NEXT_PORT=$PORT_BASE

# ---------------------------------------------------------------- time, /proc
now_us() { NOW_US=${EPOCHREALTIME/[.,]/}; }        # microseconds, no fork

nap_us() {                                           # nap_us N: sleep N µs, no fork
  local us=$1 s
  ((us > 0)) || return 0
  printf -v s '%d.%06d' $((us / 1000000)) $((us % 1000000))
  read -r -t "$s" -u "$SLEEPFD" _ || true
}

children_of() {  # children_of PID: sets KIDS (space-separated child pids)
  local f="/proc/$1/task/$1/children"
  KIDS=""
  if [[ -r $f ]]; then
    read -r KIDS <"$f" || true
  else
    KIDS=$(pgrep -P "$1" 2>/dev/null | tr '\n' ' ' || true)
  fi
}

# proc_stat PID: sets TICKS (utime+stime, fields 14+15 of /proc/PID/stat, in
# clock ticks) and START (field 22, starttime); both 0 when PID is gone
proc_stat() {
  local s f
  TICKS=0 START=0
  { read -r s <"/proc/$1/stat"; } 2>/dev/null || return 0
  s=${s##*) }          # the fields after "pid (comm)": f[0] is field 3
  read -r -a f <<<"$s"
  TICKS=$((f[11] + f[12]))
  START=${f[19]}
}

declare -A PT      # pid -> ticks, filled by tree_ticks
tree_ticks() {     # tree_ticks ROOT: sets TREE_TICKS (sum over ROOT's tree) and PT
  local p total=0
  PT=()
  for p in $(tree_pids "$1"); do
    proc_stat "$p"
    PT[$p]=$TICKS
    total=$((total + TICKS))
  done
  TREE_TICKS=$total
}

# wait_workers ROOT N: 0 once ROOT has N children (the workers), up to STARTUP_TIMEOUT
wait_workers() {
  local deadline=$((SECONDS + STARTUP_TIMEOUT)) k
  while ((SECONDS < deadline)); do
    children_of "$1"
    read -r -a k <<<"$KIDS"
    ((${#k[@]} == $2)) && return 0
    sleep 0.1
  done
  warn "pid $1 has ${#k[@]} children instead of $2"
  return 1
}

worker_slot() {  # worker_slot PID: "N" of a "plughost: worker N" argv[0], else "?"
  local a
  a=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null || true)
  [[ $a =~ worker\ ([0-9]+) ]] && echo "${BASH_REMATCH[1]}" || echo "?"
}

# conns_by_pid PORT: sets CONNS_BY_PID[pid] = established connections on
# 127.0.0.1:PORT that the process holds (from `ss -tnp`)
declare -A CONNS_BY_PID
conns_by_pid() {
  local cnt p
  CONNS_BY_PID=()
  while read -r cnt p; do
    [[ -n $p ]] && CONNS_BY_PID[${p#pid=}]=$cnt
  done < <(ss -Htnp state established "( sport = :$1 )" 2>/dev/null | grep -o 'pid=[0-9]*' | sort | uniq -c)
}

# ---------------------------------------------------------------- HTTP probes
# probe PORT PATH: one GET on a fresh connection with bash's /dev/tcp (no
# fork, so it can be repeated every few ms under load). Sets PROBE_BODY;
# 0 when the answer is a 200. Every read is bounded by 1 s.
probe() {
  local port=$1 path=$2 fd line len=0 body=""
  PROBE_BODY=""
  { exec {fd}<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null || return 1
  if ! { printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n' "$path" >&"$fd"; } 2>/dev/null; then
    exec {fd}>&-; return 1
  fi
  if ! IFS= read -r -t 1 -u "$fd" line || [[ $line != "HTTP/1."?" 200 "* ]]; then
    exec {fd}>&-; return 1
  fi
  while IFS= read -r -t 1 -u "$fd" line; do
    line=${line%$'\r'}
    [[ -z $line ]] && break
    if [[ ${line,,} == content-length:* ]]; then len=${line#*:}; len=${len//[^0-9]/}; fi
  done
  if ((len > 0)); then IFS= read -r -N "$len" -t 1 -u "$fd" body || true; fi
  exec {fd}>&-
  PROBE_BODY=$body
  return 0
}

# probe_pid SERVER PORT: sets PROBE_PID to the pid of the worker that answered
probe_pid() {
  PROBE_PID=""
  if [[ $1 == plughost ]]; then
    probe "$2" "$STATUS_PATH" || return 1
    [[ $PROBE_BODY =~ \"pid\":([0-9]+) ]] && PROBE_PID=${BASH_REMATCH[1]}
  else
    probe "$2" "$NGINX_PID_PATH" || return 1
    [[ $PROBE_BODY =~ ^([0-9]+) ]] && PROBE_PID=${BASH_REMATCH[1]}
  fi
  [[ -n $PROBE_PID ]]
}

# status_snapshot PORT N: SNAP[worker id]="pid requests_done" from plughost's
# status document, read through batches of 8 parallel fresh connections until
# N workers have answered (connections are spread over the workers); 0 then.
declare -A SNAP
status_snapshot() {
  local port=$1 n=$2 try out line urls=() w p r
  SNAP=()
  for _ in 1 2 3 4 5 6 7 8; do urls+=("http://127.0.0.1:$port$STATUS_PATH"); done
  for ((try = 0; try < 50; try++)); do
    out=$(curl -s -m 2 --parallel --parallel-immediate --parallel-max 8 -w '\n' "${urls[@]}" 2>/dev/null || true)
    while IFS= read -r line; do
      [[ $line =~ \"worker\":([0-9]+) ]] || continue; w=${BASH_REMATCH[1]}
      [[ $line =~ \"pid\":([0-9]+) ]] || continue; p=${BASH_REMATCH[1]}
      [[ $line =~ \"requests_done\":([0-9]+) ]] || continue; r=${BASH_REMATCH[1]}
      SNAP[$w]="$p $r"
    done <<<"$out"
    ((${#SNAP[@]} >= n)) && return 0
  done
  return 1
}

# ---------------------------------------------------------------- build

# ---------------------------------------------------------------- servers
# start_<server> PORT WORKERS LOG_LEVEL: sets SRV_PID (the supervisor / the
# master) and SRV_LOG; 0 once it answers /hello and has WORKERS children.
start_plughost() {
  local port=$1 n=$2 level=$3 conf="$TMP/plughost-$1.ini"
  cat >"$conf" <<EOF
[server]
listen = 127.0.0.1:$port
workers = $n
plugin_dir = $BUILD/plugins
watch = false
status_path = $STATUS_PATH
log_level = $level

[route /hello]
plugin = hello
EOF
  SRV_LOG="$TMP/plughost-$port.log"
  start_server "$SRV_LOG" "$PLUGHOST_BIN" -c "$conf"
  wait_http "$SRV_PID" "$port" /hello "$SRV_LOG" && wait_workers "$SRV_PID" "$n"
}

start_nginx() {
  local port=$1 n=$2 dir="$TMP/nginx-$1"
  local pid_location
  printf -v pid_location '\n        location = %s { return 200 "$pid"; }' "$NGINX_PID_PATH"
  write_nginx_hello_conf "$dir" "$port" "$n" notice "$pid_location"
  SRV_LOG="$dir/nginx.err"
  start_server "$dir/stderr.log" nginx -e "$dir/nginx.err" -c "$dir/nginx.conf" -p "$dir"
  if ! wait_http "$SRV_PID" "$port" /hello "$dir/stderr.log"; then
    cat "$dir/nginx.err" >&2 2>/dev/null || true
    return 1
  fi
  wait_workers "$SRV_PID" "$n"
}

stop_current() { stop_server "$1"; PIDS=(); }

# ---------------------------------------------------------------- wrk
# wrk_run URL DURATION OUT: wrk bounded by -d and an outer timeout; 0 or wrk's status
wrk_run() {
  local url=$1 dur=$2 out=$3
  timeout $(( $(to_secs "$dur") + $(to_secs "$WRK_TIMEOUT") + 30 )) \
    wrk -t"$THREADS" -c"$CONNS" -d"$dur" --timeout "$WRK_TIMEOUT" --latency "$url" >"$out" 2>&1
}

# wrk_parse OUT: sets W_REQ W_RPS W_P99 (ms) W_NON W_SOCK ("c/r/w/t") W_ERR (sum of all)
wrk_parse() {
  local out=$1
  W_REQ=$(awk '/ requests in / { print $1 }' "$out")
  W_RPS=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$out")
  W_P99=$(awk '$1 == "99%" {
      v = $2; n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
      if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
      printf "%.2f", n }' "$out")
  W_NON=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$out")
  W_NON=${W_NON:-0}
  W_SOCK=$(awk '/Socket errors:/ { gsub(/,/, ""); printf "%s/%s/%s/%s", $4, $6, $8, $10 }' "$out")
  W_SOCK=${W_SOCK:-0/0/0/0}
  local c r w t
  IFS=/ read -r c r w t <<<"$W_SOCK"
  W_ERR=$((c + r + w + t + W_NON))
}

# ---------------------------------------------------------------- part 1: hello
HELLO_CFGS=("plughost 1" "nginx 1" "plughost 2" "nginx 2")
declare -A H_RPS H_US H_P99 H_ERR H_NOTE
SHARE_REQ=()     # per round "a b" (requests of worker 1, worker 2)
SHARE_CPU=()     # per round "a b" (CPU ticks of worker 1, worker 2)
declare -A SPREAD  # server -> "a+b, a+b, " connections per worker 1 s into each 2-worker run

hello_run() {    # hello_run SERVER WORKERS ROUND
  local srv=$1 n=$2 round=$3 key="$1 $2 $3" port pid url out note="" code
  free_port; port=$PORT
  url="http://127.0.0.1:$port/hello"
  out="$TMP/wrk-hello-$srv-$n-r$round.txt"
  log "round $round: $srv workers=$n port=$port"
  H_RPS[$key]=-; H_US[$key]=-; H_P99[$key]=-; H_ERR[$key]=-
  if ! "start_$srv" "$port" "$n" warn; then
    H_NOTE[$key]="did not start"
    [[ -n "${SRV_PID:-}" ]] && stop_current "$SRV_PID"
    return 0
  fi
  pid=$SRV_PID
  code=$(curl -s -o /dev/null -m 5 -w '%{http_code}' "$url" || true)
  if [[ "$code" != 200 ]]; then
    warn "$srv: GET /hello answered '${code:-nothing}' instead of 200"
    H_NOTE[$key]="GET /hello -> ${code:-none}"
    stop_current "$pid"
    return 0
  fi
  if [[ "$WARMUP" != 0 ]]; then wrk_run "$url" "$WARMUP" /dev/null || true; fi

  local -A before=() wpids=()
  local w k
  if [[ $srv == plughost && $n -gt 1 ]]; then
    status_snapshot "$port" "$n" || note="status: not all workers answered before the run"
    for w in "${!SNAP[@]}"; do before[$w]=${SNAP[$w]}; done
  fi
  children_of "$pid"
  for w in $KIDS; do wpids[$w]=$(worker_slot "$w"); done
  tree_ticks "$pid"
  local t0=$TREE_TICKS
  local -A pt0=()
  for k in "${!PT[@]}"; do pt0[$k]=${PT[$k]}; done

  timeout $(( $(to_secs "$DURATION") + $(to_secs "$WRK_TIMEOUT") + 30 )) \
    wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --timeout "$WRK_TIMEOUT" --latency "$url" >"$out" 2>&1 &
  WRK_PID=$!
  if ((n > 1)); then       # how the connections are spread, 1 s into the run
    nap_us 1000000
    conns_by_pid "$port"
    local sp=""
    for w in $KIDS; do sp+="${CONNS_BY_PID[$w]:-0}+"; done
    SPREAD[$srv]+="${sp%+}, "
  fi
  local wrc=0
  wait "$WRK_PID" || wrc=$?
  WRK_PID=""
  ((wrc == 0)) || note="${note:+$note; }wrk exit $wrc"

  tree_ticks "$pid"
  local t1=$TREE_TICKS
  kill -0 "$pid" 2>/dev/null || note="${note:+$note; }server DIED during run"
  if [[ $srv == plughost && $n -gt 1 ]]; then
    # requests done per worker during the run (the status requests are a handful)
    if status_snapshot "$port" "$n" && ((${#before[@]} == n)); then
      local a b p pa pb ra rb
      read -r pa ra <<<"${before[1]:-0 0}"; read -r p a <<<"${SNAP[1]:-0 0}"
      [[ $p == "$pa" ]] || note="${note:+$note; }worker 1 restarted"
      read -r pb rb <<<"${before[2]:-0 0}"; read -r p b <<<"${SNAP[2]:-0 0}"
      [[ $p == "$pb" ]] || note="${note:+$note; }worker 2 restarted"
      SHARE_REQ+=("$((a - ra)) $((b - rb))")
    else
      note="${note:+$note; }status: not all workers answered after the run"
    fi
    local c1=0 c2=0
    for w in "${!wpids[@]}"; do
      case ${wpids[$w]} in
        1) c1=$((c1 + ${PT[$w]:-0} - ${pt0[$w]:-0})) ;;
        2) c2=$((c2 + ${PT[$w]:-0} - ${pt0[$w]:-0})) ;;
      esac
    done
    SHARE_CPU+=("$c1 $c2")
  fi
  stop_current "$pid"

  wrk_parse "$out"
  if [[ -z "$W_REQ" || -z "$W_RPS" ]]; then
    note="${note:+$note; }no wrk result (see $out)"
    tail -n 5 "$out" >&2 || true
  else
    H_RPS[$key]=$W_RPS
    H_P99[$key]=${W_P99:--}
    H_ERR[$key]=$W_ERR
    H_US[$key]=$(awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" -v n="$W_REQ" \
                 'BEGIN { if (n > 0) printf "%.2f", d / hz * 1e6 / n; else print "-" }')
  fi
  H_NOTE[$key]=$note
}

# ---------------------------------------------------------------- part 2: crash
declare -A C_REQ C_RPS C_NON C_SOCK C_ERR C_VCONN C_KILLS C_NEW C_ANS C_AFTER C_NOTE C_DETAIL C_LOG
PLUGHOST_CRASH_BAD=""

crash_run() {    # crash_run SERVER
  local srv=$1 n=2 port pid url out note="" code
  local csec interval_us start_us due k victim vslot before newpid t0 t_new t_ans deadline c
  local news=() anss=() vconns_all=() vconns details="" done_kills=0 noanswer=0
  free_port; port=$PORT
  url="http://127.0.0.1:$port/hello"
  out="$TMP/wrk-crash-$srv.txt"
  csec=$(to_secs "$CRASH_DURATION")
  if [[ -n "$KILL_INTERVAL" ]]; then
    interval_us=$(awk -v s="$KILL_INTERVAL" 'BEGIN { printf "%d", s * 1e6 }')
  else
    interval_us=$((csec * 1000000 / (KILLS + 1)))
  fi
  log "crash: $srv workers=$n port=$port, $KILLS kills every $(awk -v u="$interval_us" 'BEGIN { printf "%.2f", u / 1e6 }') s"
  C_KILLS[$srv]="0/$KILLS"
  if ! "start_$srv" "$port" "$n" info; then
    C_NOTE[$srv]="did not start"
    [[ -n "${SRV_PID:-}" ]] && stop_current "$SRV_PID"
    [[ $srv == plughost ]] && PLUGHOST_CRASH_BAD="did not start"
    return 0
  fi
  pid=$SRV_PID
  C_LOG[$srv]=$SRV_LOG
  code=$(curl -s -o /dev/null -m 5 -w '%{http_code}' "$url" || true)
  if [[ "$code" != 200 ]] || ! probe_pid "$srv" "$port"; then
    C_NOTE[$srv]="GET /hello -> ${code:-none} or no worker pid from the probe"
    stop_current "$pid"
    [[ $srv == plughost ]] && PLUGHOST_CRASH_BAD="did not answer"
    return 0
  fi

  trap '' PIPE     # the probes write to sockets from this shell
  timeout $((csec + $(to_secs "$WRK_TIMEOUT") + 30)) \
    wrk -t"$THREADS" -c"$CONNS" -d"$CRASH_DURATION" --timeout "$WRK_TIMEOUT" --latency "$url" >"$out" 2>&1 &
  WRK_PID=$!
  now_us; start_us=$NOW_US
  for ((k = 1; k <= KILLS; k++)); do
    due=$((start_us + k * interval_us))
    if ((due > start_us + csec * 1000000 - 1000000)); then
      note="${note:+$note; }only $((k - 1)) kills fit in the run"; break
    fi
    now_us; nap_us $((due - NOW_US))
    kill -0 "$WRK_PID" 2>/dev/null || { note="${note:+$note; }wrk ended early"; break; }
    kill -0 "$pid" 2>/dev/null || { note="${note:+$note; }server DIED"; break; }
    # the victim: the oldest worker (smallest starttime), or VICTIM=random
    children_of "$pid"; before=" $KIDS "
    victim=""; local vstart="" cands
    if [[ $VICTIM == random ]]; then
      read -r -a cands <<<"$KIDS"
      ((${#cands[@]} == 0)) || victim=${cands[RANDOM % ${#cands[@]}]}
    else
      for c in $KIDS; do
        proc_stat "$c"
        if [[ -z $vstart ]] || ((START < vstart)); then victim=$c; vstart=$START; fi
      done
    fi
    if [[ -z $victim ]]; then note="${note:+$note; }no worker to kill at kill $k"; break; fi
    vslot=$([[ $srv == plughost ]] && worker_slot "$victim" || echo "-")
    conns_by_pid "$port"
    vconns=${CONNS_BY_PID[$victim]:-0}
    vconns_all+=("$vconns")
    local spread="" w
    for w in $KIDS; do spread+="${CONNS_BY_PID[$w]:-0}+"; done
    now_us; t0=$NOW_US
    kill -SEGV "$victim" 2>/dev/null || { note="${note:+$note; }kill $k: pid $victim already gone"; continue; }
    done_kills=$((done_kills + 1))
    newpid=""; t_new=""; t_ans=""
    deadline=$((t0 + RESPAWN_TIMEOUT * 1000000))
    while :; do
      now_us
      ((NOW_US < deadline)) || break
      if [[ -z $newpid ]]; then
        children_of "$pid"
        for c in $KIDS; do
          if [[ $before != *" $c "* ]]; then newpid=$c; t_new=$((NOW_US - t0)); break; fi
        done
        [[ -n $newpid ]] || { nap_us 1000; continue; }
      fi
      if probe_pid "$srv" "$port" && [[ $PROBE_PID == "$newpid" ]]; then
        now_us; t_ans=$((NOW_US - t0)); break
      fi
    done
    [[ -n $t_new ]] && news+=("$t_new")
    if [[ -n $t_ans ]]; then anss+=("$t_ans"); else noanswer=$((noanswer + 1)); fi
    details+=$(printf '  kill %d at %5.1f s: pid %s%s holding %s of the %s connections (workers: %s) -> new pid %s after %s ms, it answered after %s ms' \
      "$k" "$(awk -v u=$((t0 - start_us)) 'BEGIN { printf "%.1f", u / 1e6 }')" "$victim" \
      "$([[ $vslot != - ]] && echo " (worker $vslot)")" "$vconns" "$CONNS" "${spread%+}" "${newpid:-none}" \
      "$(awk -v u="${t_new:--1}" 'BEGIN { if (u < 0) print "-"; else printf "%.1f", u / 1e3 }')" \
      "$(awk -v u="${t_ans:--1}" 'BEGIN { if (u < 0) print "-"; else printf "%.1f", u / 1e3 }')")$'\n'
  done
  local wrc=0
  wait "$WRK_PID" || wrc=$?
  WRK_PID=""
  trap - PIPE
  ((wrc == 0)) || note="${note:+$note; }wrk exit $wrc"

  local alive after
  if kill -0 "$pid" 2>/dev/null; then
    # give a replacement started at the very end a moment, then count
    wait_workers "$pid" "$n" >/dev/null 2>&1 || true
    children_of "$pid"; read -r -a after <<<"$KIDS"
    alive="${#after[@]} workers"
  else
    alive="DIED"
  fi
  stop_current "$pid"

  wrk_parse "$out"
  C_REQ[$srv]=${W_REQ:--}; C_RPS[$srv]=${W_RPS:--}; C_NON[$srv]=$W_NON; C_SOCK[$srv]=$W_SOCK
  C_ERR[$srv]=$(awk -v e="$W_ERR" -v k="$done_kills" 'BEGIN { if (k > 0) printf "%.1f", e / k; else print "-" }')
  C_KILLS[$srv]="$done_kills/$KILLS"
  C_VCONN[$srv]=$(median "${vconns_all[@]}")
  C_NEW[$srv]=$(med_max_ms "${news[@]}")
  C_ANS[$srv]=$(med_max_ms "${anss[@]}")
  C_AFTER[$srv]=$alive
  ((noanswer == 0)) || note="${note:+$note; }$noanswer replacement(s) did not answer within ${RESPAWN_TIMEOUT}s"
  [[ -n "$W_REQ" ]] || note="${note:+$note; }no wrk result (see $out)"
  C_NOTE[$srv]=$note
  C_DETAIL[$srv]=$details
  if [[ $srv == plughost ]] && { [[ $alive == DIED ]] || ((noanswer > 0)) || ((done_kills < KILLS)); }; then
    PLUGHOST_CRASH_BAD="$alive; $done_kills/$KILLS kills; $noanswer without an answering replacement"
  fi
  # keep the log for the report (the temp folder goes away)
  cp "$SRV_LOG" "$TMP/crash-$srv.log" 2>/dev/null || true
  C_LOG[$srv]="$TMP/crash-$srv.log"
}

# ---------------------------------------------------------------- numbers
median() {       # median of the numeric arguments ("-" skipped), "-" if none
  printf '%s\n' "$@" | awk '$1 != "-" && $1 != ""' | sort -g |
    awk '{ a[n++] = $1 + 0 }
         END { if (!n) { print "-"; exit }
               if (n % 2) print a[(n - 1) / 2]; else print (a[n / 2 - 1] + a[n / 2]) / 2 }'
}

med_max_ms() {   # med_max_ms US...: "median / max" in ms
  (($# > 0)) || { echo "-"; return; }
  printf '%s\n' "$@" | sort -g |
    awk '{ a[n++] = $1 / 1000 }
         END { if (n % 2) m = a[(n - 1) / 2]; else m = (a[n / 2 - 1] + a[n / 2]) / 2
               printf "%.1f / %.1f", m, a[n - 1] }'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "-" && b != "-" && b + 0 > 0) printf "%.2f", a / b; else print "-" }'; }

share() {        # share A B -> "52 % / 48 %"
  awk -v a="$1" -v b="$2" 'BEGIN { if (a + b > 0) printf "%.0f %% / %.0f %%", 100 * a / (a + b), 100 * b / (a + b); else print "-" }'
}

# ---------------------------------------------------------------- report
print_tables() {
  local cfg srv n r key fmt
  declare -A MED_RPS MED_US
  printf '\n'
  printf 'plughost workers benchmark — %s, %s cores (shared with wrk), wrk -t%s -c%s --timeout %s\n' \
    "$(date -u '+%Y-%m-%d %H:%M UTC')" "$(nproc)" "$THREADS" "$CONNS" "$WRK_TIMEOUT"
  printf 'plughost: %s (%s)   nginx: %s\n' "$PLUGHOST_STATUS" "${PLUGHOST_BIN:-no binary}" \
    "$(nginx -v 2>&1 | sed 's/.*version: //' || echo none)"
  printf 'load average (1 min): %s at start, %s at the end (this run'"'"'s own load included)\n' "$load1" "$(cut -d' ' -f1 /proc/loadavg)"
  [[ -z "$BUSY_NOTE" ]] || printf 'WARNING: %s\n' "$BUSY_NOTE"

  if [[ "$ONLY" != crash ]]; then
    printf '\nhello — GET /hello, -d %s (after a %s warm-up), %s interleaved rounds (each: plughost w=1, nginx w=1, plughost w=2, nginx w=2; fresh server per run), medians\n\n' \
      "$DURATION" "$WARMUP" "$ROUNDS"
    fmt='%-9s %7s %9s  %-23s %9s  %-20s %7s %6s %11s %11s %10s  %s\n'
    # shellcheck disable=SC2059
    printf "$fmt" server workers 'req/s' 'req/s per round' 'CPU us/req' 'us/req per round' 'p99 ms' errors 'req/s ph/ng' 'CPU ph/ng' 'req/s w2/w1' note
    printf '%s\n' "$(printf '%.0s-' $(seq 140))"
    for cfg in "${HELLO_CFGS[@]}"; do
      read -r srv n <<<"$cfg"
      want "$srv" || continue
      local rl=() ul=() pl=() el=() notes=""
      for ((r = 1; r <= ROUNDS; r++)); do
        key="$srv $n $r"
        rl+=("${H_RPS[$key]:--}"); ul+=("${H_US[$key]:--}"); pl+=("${H_P99[$key]:--}"); el+=("${H_ERR[$key]:--}")
        [[ -z "${H_NOTE[$key]:-}" ]] || notes+="r$r: ${H_NOTE[$key]}; "
      done
      MED_RPS[$cfg]=$(median "${rl[@]}"); MED_US[$cfg]=$(median "${ul[@]}")
    done
    for cfg in "${HELLO_CFGS[@]}"; do
      read -r srv n <<<"$cfg"
      want "$srv" || continue
      local rl=() ul=() pl=() errs=0 notes="" rr="-" cr="-" sc="-"
      for ((r = 1; r <= ROUNDS; r++)); do
        key="$srv $n $r"
        rl+=("${H_RPS[$key]:--}"); ul+=("${H_US[$key]:--}"); pl+=("${H_P99[$key]:--}")
        [[ "${H_ERR[$key]:--}" == - ]] || errs=$((errs + H_ERR[$key]))
        [[ -z "${H_NOTE[$key]:-}" ]] || notes+="r$r: ${H_NOTE[$key]}; "
      done
      if [[ $srv == plughost ]]; then
        rr=$(ratio "${MED_RPS[$cfg]}" "${MED_RPS[nginx $n]:--}")
        cr=$(ratio "${MED_US[$cfg]}" "${MED_US[nginx $n]:--}")
      fi
      ((n == 2)) && sc=$(ratio "${MED_RPS[$cfg]}" "${MED_RPS[$srv 1]:--}")
      local mr=${MED_RPS[$cfg]} mu=${MED_US[$cfg]}
      [[ $mr == - ]] || mr=$(printf '%.0f' "$mr")
      [[ $mu == - ]] || mu=$(printf '%.2f' "$mu")
      # shellcheck disable=SC2059
      printf "$fmt" "$srv" "$n" "$mr" "$(IFS=/; echo "${rl[*]}")" "$mu" "$(IFS=/; echo "${ul[*]}")" \
        "$(median "${pl[@]}")" "$errs" "$rr" "$cr" "$sc" "${notes%; }"
    done
    if want plughost; then
      local s a b ta=0 tb=0 per=""
      for s in "${SHARE_REQ[@]}"; do read -r a b <<<"$s"; ta=$((ta + a)); tb=$((tb + b)); per+="$(share "$a" "$b" | tr -d ' '), "; done
      printf '\nplughost workers=2 — worker share: %s   (requests_done from %s, worker 1 / worker 2, all rounds; per round: %s)\n' \
        "$(share "$ta" "$tb")" "$STATUS_PATH" "${per%, }"
      ta=0; tb=0; per=""
      for s in "${SHARE_CPU[@]}"; do read -r a b <<<"$s"; ta=$((ta + a)); tb=$((tb + b)); per+="$(share "$a" "$b" | tr -d ' '), "; done
      printf '                        by CPU time:  %s   (utime+stime of each worker pid; per round: %s)\n' \
        "$(share "$ta" "$tb")" "${per%, }"
    fi
    printf 'connections per worker 1 s into each 2-worker run (ss -tnp, of %s):' "$CONNS"
    local sp
    for srv in plughost nginx; do
      want "$srv" || continue
      sp=${SPREAD[$srv]:--}
      printf ' %s %s;' "$srv" "${sp%, }"
    done
    printf '\n'
    printf '\nreq/s = wrk Requests/sec; CPU us/req = (utime+stime of the server tree after - before the run) / requests wrk reports,\n'
    printf 'tree = supervisor + workers (plughost) or master + workers (nginx); clock tick %s Hz. errors = socket errors + non-2xx, all rounds.\n' "$CLK_TCK"
    printf 'req/s ph/ng = plughost / nginx at the same worker count (>= 1 plughost faster); CPU ph/ng = plughost us/req / nginx us/req (< 1 plughost cheaper);\n'
    printf 'req/s w2/w1 = the server with 2 workers / with 1 (on 2 cores shared with wrk, 2.0 is out of reach).\n'
  fi

  if [[ "$ONLY" != hello ]]; then
    printf '\ncrash — GET /hello for %s, 2 workers, kill -SEGV to the %s worker %s times (every %s s); replacement timed per kill\n\n' \
      "$CRASH_DURATION" "$VICTIM" "$KILLS" \
      "$(if [[ -n $KILL_INTERVAL ]]; then echo "$KILL_INTERVAL"; else awk -v c="$(to_secs "$CRASH_DURATION")" -v k="$KILLS" 'BEGIN { printf "%.1f", c / (k + 1) }'; fi)"
    fmt='%-9s %5s %9s %7s %7s %14s %11s %12s %18s %19s %10s  %s\n'
    # shellcheck disable=SC2059
    printf "$fmt" server kills requests 'req/s' non-2xx 'sock c/r/w/t' 'errors/kill' 'victim conns' 'new pid ms med/max' 'answers ms med/max' after note
    printf '%s\n' "$(printf '%.0s-' $(seq 140))"
    for srv in plughost nginx; do
      want "$srv" || continue
      # shellcheck disable=SC2059
      printf "$fmt" "$srv" "${C_KILLS[$srv]:--}" "${C_REQ[$srv]:--}" "${C_RPS[$srv]:--}" "${C_NON[$srv]:--}" \
        "${C_SOCK[$srv]:--}" "${C_ERR[$srv]:--}" "${C_VCONN[$srv]:--}" "${C_NEW[$srv]:--}" "${C_ANS[$srv]:--}" "${C_AFTER[$srv]:--}" "${C_NOTE[$srv]:-}"
    done
    printf '\nerrors/kill = (socket errors + non-2xx) / kills; victim conns = median of the connections the killed worker held just before\n'
    printf 'each kill (ss -tnp; with one request outstanding per connection, each is about one read error). new pid = kill -> a new child\n'
    printf 'of the supervisor (master) is seen;\n'
    printf 'answers = kill -> a request on a fresh connection is answered by that new pid (%s for plughost, %s for nginx), polled back to back.\n' \
      "$STATUS_PATH" "$NGINX_PID_PATH"
    printf 'wrk counts an EOF or reset on a connection waiting for a response as a read error.\n'
    for srv in plughost nginx; do
      want "$srv" || continue
      [[ -n "${C_DETAIL[$srv]:-}" ]] || continue
      printf '\n%s kills:\n%s' "$srv" "${C_DETAIL[$srv]}"
      if [[ -r "${C_LOG[$srv]:-}" ]]; then
        if [[ $srv == plughost ]]; then
          printf '  log: %s death line(s), %s start line(s), %s back-off line(s), %s other warn/error line(s); first lines:\n' \
            "$(grep -c 'killed by\|exited with' "${C_LOG[$srv]}" || true)" \
            "$(grep -c 'starting on generation' "${C_LOG[$srv]}" || true)" \
            "$(grep -c 'next start in' "${C_LOG[$srv]}" || true)" \
            "$(grep -E '\[(warn|error)\]' "${C_LOG[$srv]}" | grep -vc 'killed by\|exited with\|next start in' || true)"
          grep 'killed by\|exited with\|starting on generation\|next start in' "${C_LOG[$srv]}" \
            | awk '/killed by|exited with/ { p = 1 } p' | head -n 8 | sed 's/^/    /'
        else
          printf '  log: %s "exited on signal" line(s), %s "start worker process" line(s); first lines:\n' \
            "$(grep -c 'exited on signal' "${C_LOG[$srv]}" || true)" \
            "$(grep -c 'start worker process' "${C_LOG[$srv]}" || true)"
          grep 'exited on signal\|start worker process' "${C_LOG[$srv]}" \
            | awk '/exited on signal/ { p = 1 } p' | head -n 6 | sed 's/^/    /'
        fi
      fi
    done
  fi
}

# ---------------------------------------------------------------- main
if command -v apt-get >/dev/null; then install_missing; fi
for t in wrk curl nginx; do command -v "$t" >/dev/null || die "$t not found"; done
ulimit -c 0      # no core files from the SIGSEGVs
if (( $(ulimit -n) < 4096 )); then ulimit -n "$(ulimit -Hn)" 2>/dev/null || true; fi

BUSY_NOTE=""
other_wrk=$(pgrep -x wrk 2>/dev/null | wc -l || true)
load1=$(cut -d' ' -f1 /proc/loadavg)
if (( other_wrk > 0 )) || awk -v l="$load1" 'BEGIN { exit !(l >= 1.0) }'; then
  BUSY_NOTE="machine busy at start: load average $load1, $other_wrk other wrk process(es) — numbers are skewed"
  warn "$BUSY_NOTE"
fi

if want plughost; then build_plughost || true; else PLUGHOST_STATUS="not selected"; fi

if [[ "$ONLY" != crash ]]; then
  for ((round = 1; round <= ROUNDS; round++)); do
    for cfg in "${HELLO_CFGS[@]}"; do
      read -r s n <<<"$cfg"
      want "$s" || continue
      if [[ $s == plughost && $PLUGHOST_STATUS != ok ]]; then H_NOTE["$s $n $round"]=$PLUGHOST_STATUS; continue; fi
      hello_run "$s" "$n" "$round"
    done
  done
fi

if [[ "$ONLY" != hello ]]; then
  for s in plughost nginx; do
    want "$s" || continue
    if [[ $s == plughost && $PLUGHOST_STATUS != ok ]]; then C_NOTE[$s]=$PLUGHOST_STATUS; continue; fi
    crash_run "$s"
  done
fi

print_tables | tee ${RESULTS:+"$RESULTS"}
[[ "$PLUGHOST_STATUS" == ok || "$PLUGHOST_STATUS" == "not selected" ]] || exit 3
[[ -z "$PLUGHOST_CRASH_BAD" ]] || { warn "plughost crash run: $PLUGHOST_CRASH_BAD"; exit 4; }
exit 0
