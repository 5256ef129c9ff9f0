#!/bin/bash
# lib.sh - helpers shared by the benchmark scripts (sourced, not run).
# They use the caller's globals: SERVERS, NEXT_PORT, PIDS, STARTUP_TIMEOUT,
# and its warn().

want() { [[ " $SERVERS " == *" $1 "* ]]; }

# "10s" / "2m" / "1h" / "500ms" / "3" -> whole seconds (rounded up)
to_secs() {
  local v=$1
  case "$v" in
    *ms) echo $(( (${v%ms} + 999) / 1000 )) ;;
    *s)  echo "${v%s}" ;;
    *m)  echo $(( ${v%m} * 60 )) ;;
    *h)  echo $(( ${v%h} * 3600 )) ;;
    *)   echo "$v" ;;
  esac
}

port_busy() {
  ss -Htan "( sport = :$1 )" 2>/dev/null | grep -q . && return 0
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

free_port() {    # sets PORT to the next port with nothing bound or connected on it
  while port_busy "$NEXT_PORT"; do NEXT_PORT=$((NEXT_PORT + 1)); done
  PORT=$NEXT_PORT
  NEXT_PORT=$((NEXT_PORT + 1))
}

# ---------------------------------------------------------------- processes / memory
tree_pids() {    # PID and all its descendants
  local p=$1 c
  echo "$p"
  for c in $(pgrep -P "$p" 2>/dev/null || true); do tree_pids "$c"; done
}

mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# start_server LOGFILE CMD... : starts CMD in its own session (so that the
# whole group can be killed), sets SRV_PID
start_server() {
  local logf=$1; shift
  setsid "$@" >"$logf" 2>&1 </dev/null &
  SRV_PID=$!
  PIDS+=("$SRV_PID")
}

stop_server() {  # stop_server PID : TERM the group, KILL after 5 s
  local pid=$1
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL -- "-$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# wait_http PID PORT PATH LOGFILE : 0 once anything answers HTTP on PORT
wait_http() {
  local pid=$1 port=$2 path=$3 logf=$4 deadline code
  deadline=$((SECONDS + STARTUP_TIMEOUT))
  while ((SECONDS < deadline)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      warn "server exited during start-up; last lines of $logf:"
      tail -n 15 "$logf" >&2 || true
      return 1
    fi
    code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$port$path" || true)
    [[ -n "$code" && "$code" != 000 ]] && return 0
    sleep 0.2
  done
  warn "server did not answer on 127.0.0.1:$port within ${STARTUP_TIMEOUT}s; last lines of $logf:"
  tail -n 15 "$logf" >&2 || true
  return 1
}

# install_missing : apt-get install the caller's PKGS that are missing
# (none with SKIP_INSTALL set; sudo when not root). Uses log/warn/die.
install_missing() {
  local missing=() p
  for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
      || missing+=("$p")
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  if [[ -n "${SKIP_INSTALL:-}" ]]; then
    warn "missing packages (SKIP_INSTALL set, not installing): ${missing[*]}"
    return 0
  fi
  local sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || die "missing packages ${missing[*]} and not root (no sudo)"
    sudo=(sudo)
  fi
  log "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
    "${sudo[@]}" apt-get update -q >/dev/null
    "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

# build_plughost : Release build of $REPO into $BUILD (tests off; skipped
# with SKIP_BUILD), log in $TMP; sets PLUGHOST_BIN and PLUGHOST_STATUS
# ("ok", "build failed", "no binary", "no hello.so"). Returns 0 when usable.
PLUGHOST_BIN=""
PLUGHOST_STATUS="not built"
build_plughost() {
  local blog="$TMP/plughost-build.log"
  if [[ -z "${SKIP_BUILD:-}" ]]; then
    log "building plughost (Release) in $BUILD ..."
    if ! { cmake -S "$REPO" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
           && cmake --build "$BUILD" -j2; } >"$blog" 2>&1; then
      PLUGHOST_STATUS="build failed"
      warn "plughost build FAILED — plughost rows are skipped. Last lines of the build log:"
      grep -E -A3 'error|Error' "$blog" | head -n 30 >&2 || tail -n 20 "$blog" >&2
      warn "full build log: $blog (KEEP_TMP=1 keeps it)"
      return 1
    fi
  fi
  local c
  for c in "$BUILD/plughost" "$BUILD/server/plughost"; do
    [[ -x "$c" ]] && { PLUGHOST_BIN=$c; break; }
  done
  if [[ -z "$PLUGHOST_BIN" ]]; then
    PLUGHOST_STATUS="no binary"
    warn "no plughost binary in $BUILD or $BUILD/server — plughost rows are skipped"
    return 1
  fi
  if [[ ! -e "$BUILD/plugins/hello.so" ]]; then
    PLUGHOST_STATUS="no hello.so"
    warn "$BUILD/plugins/hello.so was not built — plughost rows are skipped"
    return 1
  fi
  PLUGHOST_STATUS=ok
  log "plughost binary: $PLUGHOST_BIN"
}

# ---------------------------------------------------------------- process-tree figures, wrk output
# tree_cpu_ticks ROOT : utime+stime (fields 14+15 of /proc/PID/stat, in
# `getconf CLK_TCK` ticks; each process's own figure covers all its threads)
# summed over ROOT and its descendants
tree_cpu_ticks() {
  local p s f sum=0
  for p in $(tree_pids "$1"); do
    { read -r s <"/proc/$p/stat"; } 2>/dev/null || continue
    s=${s##*) }               # the fields after "pid (comm)": f[0] is field 3
    read -r -a f <<<"$s"
    sum=$((sum + f[11] + f[12]))
  done
  echo "$sum"
}

# tree_mem_kib ROOT : "PSS RSS HWM" in KiB summed over ROOT and its
# descendants (Pss and Rss from /proc/PID/smaps_rollup, VmHWM from status)
tree_mem_kib() {
  local p pss=0 rss=0 hwm=0 k v _
  for p in $(tree_pids "$1"); do
    while read -r k v _; do
      case $k in Pss:) pss=$((pss + v)) ;; Rss:) rss=$((rss + v)) ;; esac
    done 2>/dev/null <"/proc/$p/smaps_rollup" || true
    while read -r k v _; do
      [[ $k == VmHWM: ]] && hwm=$((hwm + v))
    done 2>/dev/null <"/proc/$p/status" || true
  done
  echo "$pss $rss $hwm"
}

# wrk_ms "1.23ms" -> 1.23: a wrk duration (us, ms, s, m, h) in ms
wrk_ms() {
  awk -v v="$1" 'BEGIN {
    if (v == "") exit
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    if (u == "us") n /= 1000; else if (u == "s") n *= 1000
    else if (u == "m") n *= 60000; else if (u == "h") n *= 3600000
    printf "%.3f", n }'
}

# wrk_result OUT : from a `wrk --latency` output sets W_REQ (responses
# completed), W_SECS (length of the run, s), W_RPS (wrk's rate), W_P50 and
# W_P99 (ms), W_NON (non-2xx/3xx responses) and W_SOCK (socket errors
# connect/read/write/timeout); W_REQ is empty when wrk printed no result
wrk_result() {
  local out=$1 v
  W_REQ=$(awk '/ requests in / { print $1 }' "$out")
  v=$(awk '/ requests in / { sub(/,$/, "", $4); print $4 }' "$out")
  W_SECS=$(awk -v ms="$(wrk_ms "$v")" 'BEGIN { if (ms != "") printf "%.3f", ms / 1000 }')
  W_RPS=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$out")
  W_P50=$(wrk_ms "$(awk '$1 == "50%" { print $2 }' "$out")")
  W_P99=$(wrk_ms "$(awk '$1 == "99%" { print $2 }' "$out")")
  W_NON=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$out")
  W_NON=${W_NON:-0}
  W_SOCK=$(awk '/Socket errors:/ { gsub(/,/, ""); printf "%s/%s/%s/%s", $4, $6, $8, $10 }' "$out")
  W_SOCK=${W_SOCK:-0/0/0/0}
}

# ---------------------------------------------------------------- clean-up
# stop_all_on_exit : on exit (or INT/TERM, status 130/143) kill the wrk run
# in WRK_PID, stop every server in PIDS and remove TMP (kept with KEEP_TMP),
# keeping the exit status. The caller sets TMP, PIDS, WRK_PID and log().
stop_all_on_exit() {
  trap _stop_all EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}
# shellcheck disable=SC2317  # invoked by the trap
_stop_all() {
  local rc=$? pid
  trap - EXIT INT TERM
  if [[ -n "$WRK_PID" ]]; then kill "$WRK_PID" 2>/dev/null || true; fi
  for pid in "${PIDS[@]}"; do stop_server "$pid"; done
  if [[ -n "${KEEP_TMP:-}" ]]; then log "kept temp folder: $TMP"; else rm -rf "$TMP"; fi
  exit "$rc"
}

# ---------------------------------------------------------------- nginx
# write_nginx_hello_conf DIR PORT [WORKERS] [ERROR_LEVEL] [EXTRA] : DIR/nginx.conf
# for nginx in the foreground with WORKERS (1) worker processes, no access
# log, everything under DIR, answering GET /hello with "Hello, World!" on
# 127.0.0.1:PORT; EXTRA goes into the server block as it is.
write_nginx_hello_conf() {
  local dir=$1 port=$2 workers=${3:-1} level=${4:+ $4} extra=${5:-}
  mkdir -p "$dir/logs"
  cat >"$dir/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes $workers;
error_log $dir/nginx.err$level;
pid $dir/nginx.pid;
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
        location = /hello { return 200 "Hello, World!"; }$extra
    }
}
EOF
}
