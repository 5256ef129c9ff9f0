#!/bin/bash
# Build the libFuzzer harnesses with clang under ASan+UBSan and run each
# for SECONDS (default 20), two at a time. The seed corpora in
# tests/fuzz/corpus/ are read, never written: each run works in a copy
# under BUILD/fuzz-work/. A crash, leak, sanitizer report or a harness
# check failing is a failure; its input is kept in BUILD/fuzz-work/.
#
#   tests/fuzz/run_fuzz.sh [SECONDS [HARNESS...]]     (HARNESS: http_conn params router config fetch_parse)
#   FUZZ_BUILD=build-fuzz-long tests/fuzz/run_fuzz.sh 900 http_conn params
#
# Prints one line per harness: "fuzz <name>: PASS|FAIL <runs> runs, cov <n> ft <n>, corpus <n>"
# and last "fuzz: N passed, N failed". Exit status 0 when none failed.
set -uo pipefail
cd "$(dirname "$0")/../.."
SECONDS_EACH=${1:-20}
shift || true
HARNESSES=${*:-http_conn params router config fetch_parse}
BUILD=${FUZZ_BUILD:-build-fuzz}
PARALLEL=${FUZZ_JOBS:-2}

if ! CC=clang cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Debug -DPLUGHOST_FUZZ=ON -DPLUGHOST_SANITIZE=address \
        -DPLUGHOST_WERROR=ON -DBUILD_TESTING=OFF >/dev/null ||
    ! cmake --build "$BUILD" -j"$PARALLEL" --target $(printf 'fuzz_%s ' $HARNESSES) >/dev/null; then
    cmake --build "$BUILD" -j1 --target $(printf 'fuzz_%s ' $HARNESSES) 2>&1 | tail -30
    echo "fuzz: BUILD FAILED"
    echo "fuzz: 0 passed, $(wc -w <<<"$HARNESSES") failed"
    exit 1
fi

# run_one NAME: fuzz NAME for SECONDS_EACH in its own work folder
run_one() {
    local h=$1 dict=tests/fuzz/http.dict maxlen=4096
    case $h in
    router) dict=tests/fuzz/router.dict ;;
    config) dict=tests/fuzz/config.dict ;;
    esac
    local work="$BUILD/fuzz-work/$h"
    rm -rf "$work" && mkdir -p "$work/corpus" "$work/artifacts"
    cp tests/fuzz/corpus/$h/* "$work/corpus/"
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:allocator_may_return_null=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        "$BUILD/tests/fuzz/fuzz_$h" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=1024 \
        -dict="$dict" -max_len="$maxlen" -print_final_stats=1 -artifact_prefix="$work/artifacts/" \
        "$work/corpus" tests/fuzz/corpus/$h >"$work/log" 2>&1
    echo $? >"$work/rc"
}

running=0
for h in $HARNESSES; do
    run_one "$h" &
    running=$((running + 1))
    if [ "$running" -ge "$PARALLEL" ]; then
        wait -n
        running=$((running - 1))
    fi
done
wait

passed=0
failed=0
for h in $HARNESSES; do
    work="$BUILD/fuzz-work/$h"
    rc=$(cat "$work/rc" 2>/dev/null || echo 1)
    runs=$(grep -oE 'stat::number_of_executed_units: [0-9]+' "$work/log" | grep -oE '[0-9]+$')
    last=$(grep -E '^#[0-9]+' "$work/log" | grep -E 'cov: ' | tail -1)
    cov=$(grep -oE 'cov: [0-9]+' <<<"$last" | grep -oE '[0-9]+')
    ft=$(grep -oE 'ft: [0-9]+' <<<"$last" | grep -oE '[0-9]+')
    corpus=$(ls "$work/corpus" | wc -l)
    if [ "$rc" -eq 0 ] && ! ls "$work/artifacts" | grep -q .; then
        echo "fuzz $h: PASS ${runs:-?} runs in ${SECONDS_EACH}s, cov ${cov:-?} ft ${ft:-?}, corpus $corpus"
        passed=$((passed + 1))
    else
        echo "fuzz $h: FAIL (exit $rc) ${runs:-?} runs, cov ${cov:-?} ft ${ft:-?}; input in $work/artifacts, log $work/log:"
        grep -E 'ERROR|SUMMARY|runtime error|#[0-9]+ 0x' "$work/log" | head -15
        failed=$((failed + 1))
    fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
