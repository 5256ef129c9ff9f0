# sh_server.sh - sourced by the shell integration tests (test_install.sh,
# test_readme.sh): start a plughost command in the background on an
# ephemeral loopback port, wait for it, GET from it, stop it. Every wait
# is bounded; sh_cleanup (installed as an EXIT trap by the caller) stops
# what is still running.

SH_SERVER_PGID=""
SH_PORT=""

# sh_fail MESSAGE: print and exit 1 (the EXIT trap cleans up).
sh_fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# sh_server_start LOG TIMEOUT_S COMMAND...: run COMMAND (a shell command
# line) in its own process group with stdout+stderr to LOG, and wait up to
# TIMEOUT_S for "listening on 127.0.0.1:PORT" in LOG. Sets SH_PORT.
sh_server_start() {
    local log=$1 timeout=$2
    shift 2
    setsid bash -c "$*" >"$log" 2>&1 </dev/null &
    SH_SERVER_PGID=$!
    local deadline=$((SECONDS + timeout))
    while [ $SECONDS -lt $deadline ]; do
        SH_PORT=$(sed -nE 's/.*listening on 127\.0\.0\.1:([0-9]+).*/\1/p' "$log" | head -1)
        [ -n "$SH_PORT" ] && return 0
        if ! kill -0 "$SH_SERVER_PGID" 2>/dev/null; then
            tail -40 "$log" >&2
            sh_fail "server command exited before listening: $*"
        fi
        sleep 0.2
    done
    tail -40 "$log" >&2
    sh_fail "server not listening after ${timeout}s: $*"
}

# sh_server_stop: SIGTERM to the server's process group, wait up to 15 s,
# then SIGKILL.
sh_server_stop() {
    [ -n "$SH_SERVER_PGID" ] || return 0
    kill -TERM -- "-$SH_SERVER_PGID" 2>/dev/null
    local deadline=$((SECONDS + 15))
    while kill -0 -- "-$SH_SERVER_PGID" 2>/dev/null && [ $SECONDS -lt $deadline ]; do
        sleep 0.1
    done
    kill -KILL -- "-$SH_SERVER_PGID" 2>/dev/null
    wait "$SH_SERVER_PGID" 2>/dev/null
    SH_SERVER_PGID=""
}

# sh_expect TIMEOUT_S EXPECTED COMMAND: run COMMAND (shell line) until its
# stdout contains EXPECTED (a fixed string), up to TIMEOUT_S; fail with the
# last output otherwise. An empty EXPECTED needs exit status 0 once.
sh_expect() {
    local timeout=$1 expected=$2 cmd=$3 out=""
    local deadline=$((SECONDS + timeout))
    while :; do
        # stdout only: curl's progress meter goes to stderr
        if out=$(bash -c "$cmd" 2>/dev/null); then
            if [ -z "$expected" ] || grep -qF -- "$expected" <<<"$out"; then
                return 0
            fi
        fi
        [ $SECONDS -lt $deadline ] || break
        sleep 0.3
    done
    sh_fail "'$cmd' did not give '$expected' within ${timeout}s; last output: $out"
}
