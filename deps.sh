#!/bin/sh
# Install what plughost needs to build and test on Debian 12 (run as root).
# clang and libfuzzer-14-dev build the libFuzzer harnesses (tests/fuzz).
# Does nothing when everything is already there.
#   ./deps.sh          build and unit/integration tests
#   ./deps.sh --peers  also the peers the Release suite checks against
#                      (test.sh): promtool/Prometheus, Chromium, nginx, wrk,
#                      and nodejs + npm for the OpenAPI validator; for
#                      tests/bench/compare.sh (its smoke run is one of them)
#                      h2load, gnuplot, valgrind, strace, Kore and Debian's
#                      uvicorn + FastAPI
set -eu
PACKAGES="gcc libc6-dev make cmake pkg-config libevent-dev node-llhttp libcjson-dev libinih-dev libcmocka-dev libssl-dev curl clang libfuzzer-14-dev"
missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ "${1:-}" = "--peers" ]; then
    # by command: a node and npm from elsewhere (nodesource) do as well
    for pair in promtool:prometheus prometheus:prometheus chromium:chromium nginx:nginx wrk:wrk node:nodejs npm:npm \
        h2load:nghttp2-client gnuplot:gnuplot-nox valgrind:valgrind strace:strace kodev:kore; do
        command -v "${pair%%:*}" >/dev/null 2>&1 || PATH="$PATH:/usr/sbin" command -v "${pair%%:*}" >/dev/null 2>&1 ||
            case " $missing " in *" ${pair#*:} "*) ;; *) missing="$missing ${pair#*:}" ;; esac
    done
    # by package: the bench runs uvicorn with /usr/bin/python3
    for p in python3-fastapi python3-uvicorn; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
    done
fi
if [ -n "$missing" ]; then
    echo "deps.sh: installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing
fi
