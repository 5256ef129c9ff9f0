#!/bin/bash
# test_admin_peers.sh BUILD_DIR - the admin listener checked by real peers
# (issue 13), Release suite only (ctest label "peers"):
#  1. Debian's promtool accepts /metrics (promtool check metrics);
#  2. a real Prometheus, started on loopback, scrapes it and answers a
#     query for plughost_requests_total through its HTTP API;
#  3. headless Chromium loads /status, waits for the live data, and the
#     route table in its DOM names our routes and plugins; a screenshot
#     lands in BUILD_DIR/peers/status.png (outside the repository);
#  4. /openapi.json validates with @seriousme/openapi-schema-validator
#     (npm, installed into BUILD_DIR/npm), and a broken copy does not.
set -euo pipefail
BUILD=$(cd "$1" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d /tmp/plughost-peers.XXXXXX)
chmod 755 "$WORK"
. "$HERE/peers_lib.sh"
trap cleanup EXIT
OUT="$BUILD/peers"
mkdir -p "$OUT"

cat >"$WORK/server.ini" <<INI
[server]
listen = 127.0.0.1:0
admin_listen = 127.0.0.1:0
workers = 2
plugin_dir = $BUILD/plugins
watch = false
[route /hello]
plugin = hello
[route /items/{id}]
plugin = echo
methods = POST
INI
start_plughost s "$WORK/server.ini"
for _ in $(seq 20); do curl -fsS -o /dev/null "http://127.0.0.1:$PORT_s/hello"; done
ADMIN="http://127.0.0.1:$ADMIN_s"

echo "== 1. promtool check metrics"
curl -fsS "$ADMIN/metrics" >"$WORK/metrics.txt"
promtool check metrics <"$WORK/metrics.txt" || fail "promtool rejects /metrics"
grep -q '^plughost_requests_total{route="/hello",code="2xx"} 20$' "$WORK/metrics.txt" || fail "no /hello count of 20"
echo "promtool: ok ($(grep -vc '^#' "$WORK/metrics.txt") series)"

echo "== 2. Prometheus scrapes it"
free_port; PROM=$PORT
cat >"$WORK/prometheus.yml" <<YML
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: plughost
    static_configs:
      - targets: ['127.0.0.1:$ADMIN_s']
YML
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
    --web.listen-address="127.0.0.1:$PROM" >"$WORK/prometheus.log" 2>&1 &
PIDS+=("$!")
query='plughost_requests_total{route="/hello",code="2xx"}'
answer() {
    curl -fsS -G "http://127.0.0.1:$PROM/api/v1/query" --data-urlencode "query=$query" >"$WORK/answer.json" 2>/dev/null &&
        grep -q '"value":\[[0-9.]*,"20"\]' "$WORK/answer.json"
}
wait_for 60 answer || { cat "$WORK/prometheus.log" "$WORK/answer.json" >&2 || true; fail "Prometheus has no $query = 20"; }
echo "prometheus: $query -> $(cat "$WORK/answer.json")"
curl -fsS "http://127.0.0.1:$PROM/api/v1/targets" | grep -q '"health":"up"' || fail "target not up"

echo "== 3. headless Chromium on /status"
chrome() {
    timeout 60 chromium --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
        --disable-sync --no-first-run --user-data-dir="$WORK/chrome-$1" --virtual-time-budget=4000 "${@:2}" \
        2>>"$WORK/chromium.log"
}
chrome dom --dump-dom "$ADMIN/status" >"$WORK/dom.html" || { tail "$WORK/chromium.log" >&2; fail "chromium"; }
grep -q 'data-live="1"' "$WORK/dom.html" || fail "the page never got its live data"
routes=$(tr -d '\n' <"$WORK/dom.html" | sed 's/.*<table id="routes">//; s/<h2>Plugins.*//')
[[ "$routes" == *"<td>/hello</td><td>GET</td><td>$BUILD/plugins/hello.so</td><td>hello</td><td>1.0.0</td><td>async</td>"* ]] ||
    fail "route table: $routes"
[[ "$routes" == *"<td>/items/{id}</td><td>POST</td>"*"<td>echo</td><td>1.0.0</td><td>sync</td>"* ]] ||
    fail "route table: $routes"
rm -f "$OUT/status.png"
chrome shot --window-size=1280,1100 --screenshot="$OUT/status.png" "$ADMIN/status" >/dev/null ||
    fail "chromium screenshot"
[ "$(head -c 8 "$OUT/status.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || fail "no PNG"
echo "chromium: route table ok; screenshot $OUT/status.png ($(stat -c %s "$OUT/status.png") bytes)"

echo "== 4. OpenAPI validation"
VALIDATOR="$BUILD/npm/node_modules/.bin/validate-api"
if [ ! -x "$VALIDATOR" ]; then
    npm install --no-audit --no-fund --no-save --prefix "$BUILD/npm" @seriousme/openapi-schema-validator@2.11.0 \
        >"$WORK/npm.log" 2>&1 || { cat "$WORK/npm.log" >&2; fail "npm install"; }
fi
curl -fsS "$ADMIN/openapi.json" >"$WORK/openapi.json"
grep -q '"/items/{id}":{"post":{' "$WORK/openapi.json" || fail "no /items/{id} post"
grep -q '"name":"id","in":"path","required":true' "$WORK/openapi.json" || fail "no path parameter"
"$VALIDATOR" "$WORK/openapi.json" || fail "OpenAPI document invalid"
sed 's/"openapi":"3.0.3"/"openapi":"3.0.3","paths2":1/' "$WORK/openapi.json" >"$WORK/broken.json"
if "$VALIDATOR" "$WORK/broken.json" >/dev/null; then fail "the validator accepts anything"; fi
# a plugin that declares a summary and a response type (ABI 1.3): the
# document with its "200" content must validate too
mkdir -m 755 "$WORK/plugins"
cp "$BUILD/test-plugins/it_described.so" "$WORK/plugins/"
cat >"$WORK/described.ini" <<INI
[server]
listen = 127.0.0.1:0
admin_listen = 127.0.0.1:0
workers = 1
plugin_dir = $WORK/plugins
watch = false
[route /hi]
plugin = it_described
methods = GET POST
INI
start_plughost d "$WORK/described.ini"
curl -fsS "http://127.0.0.1:$ADMIN_d/openapi.json" >"$WORK/described.json"
grep -q '"summary":"Say hello"' "$WORK/described.json" || fail "no declared summary"
grep -q '"200":{"description":"the plugin'"'"'s answer","content":{"text/plain":{"schema":{}}}}' \
    "$WORK/described.json" || fail "no declared response type"
"$VALIDATOR" "$WORK/described.json" || fail "OpenAPI document with declarations invalid"
echo "openapi: valid (node $(node --version))"
echo "PASS"
