#!/bin/bash
# test_install.sh BUILD_DIR - what a plugin author does with an installed
# plughost, from a folder outside the source tree:
#   1. cmake --install BUILD_DIR into a temporary prefix; the files are there;
#   2. `plughost new greet` (sync) and `plughost new tick --async` with the
#      installed binary; each builds with its generated CMakeLists
#      (find_package(plughost)) and its cmocka test passes under ctest;
#   3. the same plugin and test built with one cc line each through
#      pkg-config (plughost, plughost-testing cmocka); the .so links cJSON;
#   4. the installed binary serves both plugins (loopback, ephemeral port)
#      and answers GET; the example config checks with -t;
#   5. a bad typed setting is refused by `plughost -t` with the reason.
# Release suite only (label "install"): the test kit installed from a
# sanitizer build would need the sanitizer runtime in every plugin test.
set -uo pipefail
BUILD=$(cd "$1" && pwd) || exit 1
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=sh_server.sh
. "$HERE/sh_server.sh"
WORK=$(mktemp -d /tmp/plughost-install.XXXXXX)
chmod 755 "$WORK"
trap 'sh_server_stop; rm -rf "$WORK"' EXIT
PREFIX=$WORK/prefix
CFLAGS_STRICT="-Wall -Wextra -Werror"

echo "== install into $PREFIX"
cmake --install "$BUILD" --prefix "$PREFIX" >"$WORK/install.log" 2>&1 || { cat "$WORK/install.log"; sh_fail "cmake --install"; }
for f in bin/plughost include/plughost.h include/plughost/ph_mock_host.h lib/libplughost-testing.a \
    lib/pkgconfig/plughost.pc lib/pkgconfig/plughost-testing.pc lib/cmake/plughost/plughostConfig.cmake \
    lib/cmake/plughost/plughostConfigVersion.cmake lib/plughost/plugins/hello.so etc/plughost/server.ini \
    lib/systemd/system/plughost.service; do
    [ -f "$PREFIX/$f" ] || sh_fail "not installed: $f"
done
grep -q "^ExecStart=$PREFIX/bin/plughost -c $PREFIX/etc/plughost/server.ini" "$PREFIX/lib/systemd/system/plughost.service" ||
    sh_fail "the systemd unit does not run the installed binary with the installed config"
"$PREFIX/bin/plughost" -t -c "$PREFIX/etc/plughost/server.ini" || sh_fail "the installed example config does not check"
if command -v systemd-analyze >/dev/null; then # the unit's syntax and its sandbox score (no systemd runs here)
    systemd-analyze verify "$PREFIX/lib/systemd/system/plughost.service" || sh_fail "systemd-analyze verify"
    systemd-analyze security --offline=true "$PREFIX/lib/systemd/system/plughost.service" | tail -1
fi

cd "$WORK" || exit 1
echo "== plughost new, then CMake (find_package) and ctest"
"$PREFIX/bin/plughost" new greet >/dev/null || sh_fail "plughost new greet"
"$PREFIX/bin/plughost" new tick --async >/dev/null || sh_fail "plughost new tick --async"
[ "$(grep -cv '^$' greet/CMakeLists.txt)" -le 4 ] || sh_fail "the generated CMakeLists.txt grew past 4 lines"
for p in greet tick; do
    { cmake -S $p -B $p/build -DCMAKE_PREFIX_PATH="$PREFIX" -DCMAKE_C_FLAGS="$CFLAGS_STRICT" &&
        cmake --build $p/build &&
        ctest --test-dir $p/build --output-on-failure; } >"$WORK/$p-cmake.log" 2>&1 ||
        { cat "$WORK/$p-cmake.log"; sh_fail "$p: CMake build or test against the installed SDK"; }
    grep -q "100% tests passed, 0 tests failed out of 1" "$WORK/$p-cmake.log" || sh_fail "$p: ctest ran no test"
done

echo "== the same with one cc line each through pkg-config"
export PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig
mkdir -p pc served
for p in greet tick; do
    # shellcheck disable=SC2046
    cc -std=gnu11 $CFLAGS_STRICT -O2 -g -fPIC -shared -fvisibility=hidden $p/$p.c -o served/$p.so \
        $(pkg-config --cflags --libs plughost) || sh_fail "$p.so with pkg-config plughost"
    # shellcheck disable=SC2046
    cc -std=gnu11 $CFLAGS_STRICT -g $p/test_$p.c $p/$p.c -o pc/test_$p \
        $(pkg-config --cflags --libs plughost-testing cmocka) || sh_fail "test_$p with pkg-config"
    ./pc/test_$p >"$WORK/$p-pc.log" 2>&1 || { cat "$WORK/$p-pc.log"; sh_fail "test_$p (pkg-config build)"; }
    readelf -d served/$p.so | grep -q 'NEEDED.*libcjson' || sh_fail "$p.so does not link cJSON itself"
done

echo "== serve them with the installed binary"
chmod 755 served
cat >served.ini <<INI
[server]
listen = 127.0.0.1:8080
workers = 1
plugin_dir = served
watch = false
INI
cat greet/route.ini tick/route.ini >>served.ini
sed -i 's/^delay = 100ms/delay = 50ms/' served.ini
"$PREFIX/bin/plughost" -t -c served.ini || sh_fail "plughost -t on the served config"
sh_server_start "$WORK/server.log" 20 "exec '$PREFIX/bin/plughost' -c served.ini -l 127.0.0.1:0"
sh_expect 10 '{"message":"Hello, Ada!"}' "curl -sS 'http://127.0.0.1:$SH_PORT/greet?name=Ada'"
sh_expect 10 '{"message":"Hello, World!"}' "curl -sS 'http://127.0.0.1:$SH_PORT/tick'"
sh_expect 10 '400' "curl -sS -o /dev/null -w '%{http_code}' 'http://127.0.0.1:$SH_PORT/greet?name=$(printf 'a%.0s' {1..65})'"
sh_server_stop

echo "== a bad typed setting is refused at load, with the reason"
sed -i 's/^delay = 50ms/delay = 50 ms/' served.ini
if "$PREFIX/bin/plughost" -t -c served.ini >"$WORK/bad.log" 2>&1; then
    sh_fail "plughost -t accepted delay = 50 ms"
fi
grep -q 'route /tick: delay = "50 ms" is not a duration' "$WORK/bad.log" ||
    { cat "$WORK/bad.log"; sh_fail "the refusal does not name route, key, value and syntax"; }
echo "install: all passed"
