#!/bin/bash
# test_scaleout.sh BUILD_DIR NGINX_EXAMPLE - two plughost instances behind
# Debian's nginx on loopback, configured from conf/nginx-plughost.conf
# (only the ports changed). Under load from wrk (/hello and a sync route
# with requests in flight) each instance is reloaded (SIGHUP, a changed
# route setting), then restarted (SIGTERM, drain, start again on the
# same port), one after the other; wrk must count zero failed requests
# (non-2xx answers and socket errors) through nginx. Release suite only
# (ctest label "peers"). Every wait is bounded; the load runs 25 s.
set -euo pipefail
BUILD=$(cd "$1" && pwd)
EXAMPLE=$2
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d /tmp/plughost-scaleout.XXXXXX)
chmod 755 "$WORK"
. "$HERE/peers_lib.sh"
trap cleanup EXIT
LOAD_S=25

write_ini() { # NAME PORT SECONDS
    cat >"$WORK/$1.ini" <<INI
[server]
listen = 127.0.0.1:$2
workers = 2
plugin_dir = $BUILD/plugins
watch = false
trusted_proxies = 127.0.0.1
drain_timeout = 10s
[route /hello]
plugin = hello
[route /sync]
plugin = sleep_sync
seconds = $3
INI
}

free_port; PA=$PORT
free_port; PB=$PORT
free_port; PN=$PORT
write_ini a "$PA" 0.05
write_ini b "$PB" 0.05
start_plughost a "$WORK/a.ini"
start_plughost b "$WORK/b.ini"

mkdir -p "$WORK/nginx-tmp"
sed -e "s/127.0.0.1:8080/127.0.0.1:$PA/; s/127.0.0.1:8081/127.0.0.1:$PB/; s/listen 80;/listen 127.0.0.1:$PN;/" \
    "$EXAMPLE" >"$WORK/plughost-upstream.conf"
cat >"$WORK/nginx.conf" <<NGX
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log warn;
events { worker_connections 1024; }
http {
    # only what failed, with what the upstreams answered
    map \$status \$failed { ~^2 0; 499 0; default 1; }
    log_format failures '\$status upstream=\$upstream_addr upstream_status=\$upstream_status \$request';
    access_log $WORK/nginx-failures.log failures if=\$failed;
    client_body_temp_path $WORK/nginx-tmp/body;
    proxy_temp_path $WORK/nginx-tmp/proxy;
    fastcgi_temp_path $WORK/nginx-tmp/fastcgi;
    uwsgi_temp_path $WORK/nginx-tmp/uwsgi;
    scgi_temp_path $WORK/nginx-tmp/scgi;
    include $WORK/plughost-upstream.conf;
}
NGX
nginx -t -c "$WORK/nginx.conf" -p "$WORK" -g 'daemon off;' 2>&1 | tail -1
nginx -c "$WORK/nginx.conf" -p "$WORK" -g 'daemon off;' &
PIDS+=("$!")
wait_for 20 curl -fsS -o /dev/null "http://127.0.0.1:$PN/hello" || fail "nginx does not answer"

wrk -t1 -c8 -d${LOAD_S}s "http://127.0.0.1:$PN/hello" >"$WORK/wrk-hello.txt" 2>&1 &
W1=$!; PIDS+=("$W1")
wrk -t1 -c4 -d${LOAD_S}s "http://127.0.0.1:$PN/sync" >"$WORK/wrk-sync.txt" 2>&1 &
W2=$!; PIDS+=("$W2")
START=$SECONDS
sleep 2

reload() { # NAME: change a route setting, SIGHUP, wait for generation 2+
    local name=$1 pid port
    pid=$(eval echo "\$PID_$name"); port=$(eval echo "\$PORT_$name")
    write_ini "$name" "$port" 0.03
    local before
    before=$(grep -c "serving .* routes on" "$WORK/$name.log" || true)
    kill -HUP "$pid"
    wait_for 20 bash -c "[ \$(grep -c 'serving .* routes on' '$WORK/$name.log') -gt $before ]" ||
        fail "$name: reload did not finish"
    echo "reloaded $name: $(grep 'reload' "$WORK/$name.log" | grep -v '^$' | tail -3 | tr '\n' '|')"
}

restart() { # NAME: SIGTERM, wait for the exit, start again on the same port
    local name=$1 pid
    pid=$(eval echo "\$PID_$name")
    kill -TERM "$pid"
    local end=$((SECONDS + 20))
    while kill -0 "$pid" 2>/dev/null; do
        [ "$SECONDS" -lt "$end" ] || fail "$name did not stop"
        sleep 0.05
    done
    wait "$pid" || fail "$name exited with an error"
    echo "stopped $name: $(grep 'draining' "$WORK/$name.log" | tail -2 | sed 's/.*\] //' | tr '\n' '|')"
    start_plughost "$name" "$WORK/$name.ini"
    echo "restarted $name on port $(eval echo "\$PORT_$name")"
}

reload a
reload b
restart a
restart b
PHASES_END=$SECONDS
wait "$W1" || fail "wrk /hello"
wait "$W2" || fail "wrk /sync"
[ $((PHASES_END - START)) -lt "$LOAD_S" ] || fail "the phases took longer than the load ($((PHASES_END - START)) s)"

failed=0
total=0
for f in "$WORK/wrk-hello.txt" "$WORK/wrk-sync.txt"; do
    n=$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' "$f")
    non2xx=$(sed -n 's/.*Non-2xx or 3xx responses: \([0-9]*\).*/\1/p' "$f")
    sock=$(sed -n 's/.*Socket errors: connect \([0-9]*\), read \([0-9]*\), write \([0-9]*\), timeout \([0-9]*\).*/\1+\2+\3+\4/p' "$f")
    bad=$(( ${non2xx:-0} + ${sock:-0} ))
    echo "$(basename "$f" .txt): $n requests, $bad failed (non-2xx ${non2xx:-0}, socket errors ${sock:-none})"
    total=$((total + n))
    failed=$((failed + bad))
done
echo "through nginx: $total requests, $failed failed, across 2 reloads and 2 restarts"
grep -h "upstream" "$WORK/nginx-error.log" | sed 's/^/nginx: /' | tail -5 || true
[ ! -s "$WORK/nginx-failures.log" ] || { echo "failed requests, as nginx saw them:"; sort "$WORK/nginx-failures.log" | uniq -c | sort -rn | head; }
[ "$total" -gt 500 ] || fail "too little load ($total requests)"
[ "$failed" -eq 0 ] || fail "$failed requests failed"
echo "PASS"
