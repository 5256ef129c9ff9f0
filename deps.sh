#!/bin/sh
# Install what plughost needs to build and test on Debian 12 (run as root).
# clang and libfuzzer-14-dev build the libFuzzer harnesses (tests/fuzz).
# Does nothing when everything is already there.
set -eu
PACKAGES="gcc libc6-dev make cmake pkg-config libevent-dev node-llhttp libcjson-dev libinih-dev libcmocka-dev libssl-dev curl clang libfuzzer-14-dev"
missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "deps.sh: installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing
fi
