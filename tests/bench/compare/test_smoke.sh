#!/usr/bin/env bash
# test_smoke.sh BUILD_DIR — the ctest of tests/bench/compare.sh (label
# "peers", Release suite only): runs the whole comparison once with tiny
# counts (SMOKE=1, about 45 s) on the plughost binary and plugins of BUILD_DIR
# and checks what it wrote: exit status 0, a real PNG (signature, IHDR,
# non-trivial size) and a results.md whose tables hold numbers in every cell,
# not placeholders. Installs nothing (SKIP_INSTALL=1): deps.sh --peers does.
set -uo pipefail
BUILD=$(cd "${1:?usage: test_smoke.sh BUILD_DIR}" && pwd) || exit 1
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$(mktemp -d "${TMPDIR:-/tmp}/plughost-compare-smoke.XXXXXX")
trap 'rm -rf "$OUT"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

SMOKE=1 SKIP_BUILD=1 SKIP_INSTALL=1 BUILD_DIR=$BUILD PORT_BASE=${PORT_BASE:-19600} \
  "$HERE/../compare.sh" "$OUT" >"$OUT/compare.log" 2>&1
rc=$?
if [[ $rc -ne 0 ]]; then
  tail -n 60 "$OUT/compare.log"
  fail "compare.sh exited with $rc"
fi

# ---- the PNG: signature, an IHDR chunk with a sane size, more than 10 KB
png=$OUT/chart.png
if [[ ! -s $png ]]; then
  fail "no chart.png"
else
  sig=$(od -An -tx1 -N8 "$png" | tr -d ' \n')
  [[ $sig == 89504e470d0a1a0a ]] || fail "chart.png does not start with the PNG signature ($sig)"
  [[ $(od -An -c -j12 -N4 "$png" | tr -d ' \n') == IHDR ]] || fail "chart.png has no IHDR chunk first"
  w=$(od -An -tu1 -j16 -N4 "$png" | awk '{ print $1 * 16777216 + $2 * 65536 + $3 * 256 + $4 }')
  h=$(od -An -tu1 -j20 -N4 "$png" | awk '{ print $1 * 16777216 + $2 * 65536 + $3 * 256 + $4 }')
  ((w >= 800 && h >= 300)) || fail "chart.png is ${w}x${h}"
  size=$(stat -c %s "$png")
  ((size > 10000)) || fail "chart.png is only $size bytes"
  echo "chart.png: ${w}x${h}, $size bytes"
fi

# ---- results.md
md=$OUT/results.md
[[ -s $md ]] || { fail "no results.md"; echo "test_smoke: $fails failure(s)"; exit 1; }
grep -q '^\*\*Problems in this run' "$md" && fail "results.md lists problems: $(sed -n '/^\*\*Problems/,/^$/p' "$md" | tr '\n' ' ')"
grep -q '^Machine: ' "$md" || fail "results.md has no Machine: line"
grep -q '(chart.png)' "$md" || fail "results.md does not show chart.png"

# cells_of HEADER_REGEX : the body rows of the Markdown table whose header
# row matches, one cell per line as "row title<TAB>column<TAB>cell"
cells_of() {
  awk -v re="$1" -F'|' '
    !t && $0 ~ re { t = 1; for (i = 3; i < NF; i++) { h[i] = $i; gsub(/^ +| +$/, "", h[i]) } next }
    t == 1 { t = 2; next }                       # the --- row
    t == 2 && /^\|/ { r = $2; gsub(/^ +| +$/, "", r)
                      for (i = 3; i < NF; i++) { c = $i; gsub(/^ +| +$/, "", c); print r "\t" h[i] "\t" c } next }
    t == 2 { exit }' "$md"
}

# the seed: one row per concurrency of the smoke run, every cell
# "N req/s, p99 N s, N MiB"
n=0
while IFS=$'\t' read -r row col cell; do
  n=$((n + 1))
  [[ $cell =~ ^[0-9][0-9,]*(\.[0-9]+)?\ req/s,\ p99\ [0-9]+\.[0-9]+\ s,\ [0-9]+\.[0-9]+\ MiB$ ]] ||
    fail "seed table, $row connections, $col: '$cell'"
done < <(cells_of '^\| connections \|')
((n == 8)) || fail "seed table has $n cells, expected 8 (2 concurrencies x 2 servers x 2 endpoints)"

# the cost table: a number in every cell (uvicorn's instructions are not run
# in the smoke run: callgrind of a Python start-up takes a minute)
n=0
while IFS=$'\t' read -r row col cell; do
  n=$((n + 1))
  if [[ $row == user-space* && $col == uvicorn* ]]; then
    [[ $cell == "not run" ]] || fail "cost table, $row, $col: '$cell' (expected 'not run' in a smoke run)"
    continue
  fi
  [[ $cell =~ ^[0-9][0-9,]*(\.[0-9]+)?$ ]] || fail "cost table, $row, $col: '$cell'"
  if [[ $row == req/s\ \(* || $row == user-space* || $row == syscalls* ]]; then
    [[ ${cell//[,.0]/} != "" ]] || fail "cost table, $row, $col: zero"
  fi
done < <(cells_of '^\| GET /hello \|')
((n == 35)) || fail "cost table has $n cells, expected 35 (7 rows x 5 servers)"

# the raw data the tables were made from
[[ $(wc -l <"$OUT/raw/seed.tsv") -eq 8 ]] || fail "raw/seed.tsv does not have 8 rows"
[[ $(wc -l <"$OUT/raw/callgrind.tsv") -eq 4 ]] || fail "raw/callgrind.tsv does not have 4 rows"

if ((fails > 0)); then
  echo "--- results.md"; cat "$md"
  echo "test_smoke: $fails failure(s)"
  exit 1
fi
echo "test_smoke: compare.sh ran $(grep -o 'in [0-9]*m[0-9]*s' "$md" | head -n 1); results.md and chart.png are well formed"
