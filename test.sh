#!/bin/bash
# Build and run the whole test suite three ways, all with -Werror: a Release
# build (as the README's run command), ASan+UBSan, and ThreadSanitizer for
# the units and plugins (pool, offload, items, fetch); then each libFuzzer
# harness (tests/fuzz, clang, ASan+UBSan) for FUZZ_SECONDS (default 20),
# a crash counting as a failure. The peer tests (Prometheus, Chromium,
# nginx, the npm OpenAPI validator: label "peers") and the install tests
# run in the Release suite only.
# Prints "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")"
./deps.sh --peers || exit 1
JOBS=$(nproc)
passed=0
failed=0

# run_suite NAME CMAKE_ARGS CTEST_ARGS (always -Werror)
run_suite() {
    local dir="build-$1" log
    echo "== $1: configure and build ($dir)"
    if ! cmake -S . -B "$dir" -DPLUGHOST_WERROR=ON $2 >/dev/null || ! cmake --build "$dir" -j"$JOBS" >/dev/null; then
        cmake --build "$dir" -j1 2>&1 | tail -40
        echo "== $1: BUILD FAILED"
        failed=$((failed + 1))
        return
    fi
    log=$(mktemp)
    ctest --test-dir "$dir" --output-on-failure -j"$JOBS" $3 2>&1 | tee "$log"
    local line
    line=$(grep -E 'tests passed, [0-9]+ tests failed out of [0-9]+' "$log" | tail -1)
    rm -f "$log"
    if [ -z "$line" ]; then
        echo "== $1: ctest ran no test"
        failed=$((failed + 1))
        return
    fi
    local nfail total
    nfail=$(sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\1/' <<<"$line")
    total=$(sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\2/' <<<"$line")
    passed=$((passed + total - nfail))
    failed=$((failed + nfail))
}

# optimised as the run command builds (-O3: some warnings only show
# there), then the sanitizers at -O0
run_suite test "-DCMAKE_BUILD_TYPE=Release" ""
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run_suite asan "-DCMAKE_BUILD_TYPE=Debug -DPLUGHOST_SANITIZE=address" "-LE install|peers"
TSAN_OPTIONS=halt_on_error=1 run_suite tsan "-DCMAKE_BUILD_TYPE=Debug -DPLUGHOST_SANITIZE=thread" "-R ^unit_|^plugins"

# the fuzzers: one pass or failure per harness
fuzz_log=$(mktemp)
tests/fuzz/run_fuzz.sh "${FUZZ_SECONDS:-20}" 2>&1 | tee "$fuzz_log"
fuzz_line=$(grep -E '^fuzz: [0-9]+ passed, [0-9]+ failed' "$fuzz_log" | tail -1)
rm -f "$fuzz_log"
if [ -z "$fuzz_line" ]; then
    echo "== fuzz: no result"
    failed=$((failed + 1))
else
    passed=$((passed + $(sed -E 's/fuzz: ([0-9]+) passed.*/\1/' <<<"$fuzz_line")))
    failed=$((failed + $(sed -E 's/.* ([0-9]+) failed/\1/' <<<"$fuzz_line")))
fi

echo "test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
