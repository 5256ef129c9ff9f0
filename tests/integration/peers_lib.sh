#!/bin/bash
# peers_lib.sh - helpers of the peer tests (sourced): start a plughost on
# 127.0.0.1 with ephemeral ports, read its ports from its log, wait with
# bounds, clean up every process started. Expects BUILD (the build dir)
# and WORK (a temp dir) set by the caller.

PIDS=()

fail() { echo "FAIL: $*" >&2; exit 1; }

cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    [ -n "${KEEP_TMP:-}" ] || rm -rf "$WORK"
}

# wait_for SECONDS CMD...: run CMD every 0.1 s until it succeeds.
wait_for() {
    local end=$((SECONDS + $1)); shift
    until "$@"; do
        [ "$SECONDS" -lt "$end" ] || return 1
        sleep 0.1
    done
}

port_busy() {
    ss -Htan "( sport = :$1 )" 2>/dev/null | grep -q . && return 0
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# free_port: a port nothing uses, below the kernel's ephemeral range
# (20000..31999, so no outgoing connection holds it), into PORT.
free_port() {
    PORT=$((20000 + RANDOM % 12000))
    while port_busy "$PORT"; do PORT=$((20000 + RANDOM % 12000)); done
}

# start_plughost NAME INI: run it, log in $WORK/NAME.log, PID in PID_<NAME>,
# public port in PORT_<NAME>, admin port (if any) in ADMIN_<NAME>.
# It returns once this start logged "listening on" (the supervisor says it
# when every worker is ready), and "admin listener on" when the config has
# one: a restart appends to the same log, so the lines of an earlier start
# are counted out.
start_plughost() {
    local name=$1 ini=$2 log="$WORK/$1.log" before admin_before
    touch "$log"
    before=$(grep -c "listening on" "$log" || true)
    admin_before=$(grep -c "admin listener on" "$log" || true)
    "$BUILD/plughost" -c "$ini" >>"$log" 2>&1 &
    local pid=$!
    PIDS+=("$pid")
    printf -v "PID_$name" %s "$pid"
    wait_for 20 bash -c "[ \$(grep -c 'listening on' '$log') -gt $before ]" ||
        { cat "$log" >&2; fail "$name did not start"; }
    local port
    port=$(grep -o "listening on 127.0.0.1:[0-9]*" "$log" | tail -1 | sed 's/.*://')
    printf -v "PORT_$name" %s "$port"
    if grep -q "admin_listen" "$ini"; then
        wait_for 20 bash -c "[ \$(grep -c 'admin listener on' '$log') -gt $admin_before ]" ||
            fail "$name: no admin listener"
        port=$(grep -o "admin listener on http://127.0.0.1:[0-9]*" "$log" | tail -1 | sed 's/.*://')
        printf -v "ADMIN_$name" %s "$port"
    fi
}
