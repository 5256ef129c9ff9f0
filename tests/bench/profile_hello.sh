#!/usr/bin/env bash
# profile_hello.sh — where the user-space instructions of one GET /hello go,
# function by function: callgrind over two fresh runs of the async `hello`
# plugin, N1 and N2 requests on 8 keep-alive connections, and each
# function's cost difference divided by N2 - N1 (start-up and shutdown
# cancel out). Deterministic: it counts instructions, so a busy machine
# only makes it slower. compare.sh gives the total beside the peers; this
# gives the breakdown to work from.
#
#   tests/bench/profile_hello.sh                 # top 40 functions, build/
#   BUILD=/tmp/b TOP=80 tests/bench/profile_hello.sh
#   REQ='GET /hello HTTP/1.1\r\nHost: 127.0.0.1:1\r\nuser-agent: h2load nghttp2/1.52.0\r\n\r\n' \
#     tests/bench/profile_hello.sh               # h2load's request instead
#
# Environment: BUILD (a Release build with plugins/hello.so; add
# -DCMAKE_C_FLAGS=-g for `callgrind_annotate --auto=yes` line costs), TOP,
# REQ (the request, with \r\n escapes), N1=2000, N2=12000, PORT_BASE=18900,
# KEEP_TMP=1 (keep the callgrind files). Each run is bounded by `timeout`.
set -euo pipefail
HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd -- "$HERE/../.." && pwd)
BUILD=$(cd -- "${BUILD:-$REPO/build}" && pwd)
TOP=${TOP:-40}
N1=${N1:-2000}
N2=${N2:-12000}
NEXT_PORT=${PORT_BASE:-18900}
# shellcheck source=lib.sh
. "$HERE/lib.sh"
command -v valgrind >/dev/null && command -v callgrind_annotate >/dev/null || {
  echo "profile_hello: needs valgrind (apt-get install -y valgrind)" >&2
  exit 1
}
[[ -x "$BUILD/plughost" && -e "$BUILD/plugins/hello.so" ]] || {
  echo "profile_hello: no plughost and plugins/hello.so in $BUILD" >&2
  exit 1
}
TMP=$(mktemp -d /tmp/profile-hello.XXXXXX)
[[ -n "${KEEP_TMP:-}" ]] || trap 'rm -rf "$TMP"' EXIT
cp "$BUILD/plugins/hello.so" "$TMP/"

# profile N OUT : callgrind the server over N requests; OUT.<pid> files
profile() {
  local n=$1 out=$2 pid
  free_port
  printf '[server]\nlisten = 127.0.0.1:%s\nworkers = 1\nplugin_dir = %s\nwatch = false\n[route /hello]\nplugin = hello\n' \
    "$PORT" "$TMP" >"$TMP/server.ini"
  timeout 300 valgrind --tool=callgrind --trace-children=yes --callgrind-out-file="$TMP/$out.%p" \
    "$BUILD/plughost" -c "$TMP/server.ini" >"$TMP/$out.log" 2>&1 &
  pid=$!
  for _ in $(seq 150); do curl -s -o /dev/null "http://127.0.0.1:$PORT/hello" && break; sleep 0.2; done
  timeout 120 python3 - "$n" "$PORT" "${REQ:-}" <<'PY'
import socket, sys
n, port, req = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
req = req.encode().decode("unicode_escape").encode() if req else b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
conns = [socket.create_connection(("127.0.0.1", port), timeout=60) for _ in range(8)]
for _ in range(n // 8):
    for c in conns:
        c.sendall(req)
    for c in conns:
        got = b""
        while b"Hello" not in got:
            d = c.recv(4096)
            if not d:
                sys.exit("the server closed the connection")
            got += d
for c in conns:
    c.close()
PY
  kill "$pid"
  wait "$pid" 2>/dev/null || true
}

profile "$N1" small
profile "$N2" large
# the worker is the largest profile of each run (the supervisor barely works)
small=$(ls -S "$TMP"/small.[0-9]* | head -1)
large=$(ls -S "$TMP"/large.[0-9]* | head -1)
callgrind_annotate "$small" >"$TMP/small.txt"
callgrind_annotate "$large" >"$TMP/large.txt"
python3 - "$TMP/small.txt" "$TMP/large.txt" "$((N2 - N1))" "$TOP" <<'PY'
import re, sys
def costs(path):
    d = {}
    for line in open(path):
        m = re.match(r"\s*([\d,]+)\s+\([^)]*\)\s+(\S+)", line)
        if m:
            d[m.group(2)] = int(m.group(1).replace(",", ""))
    return d
a, b, n, top = costs(sys.argv[1]), costs(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rows = sorted(((b[k] - a.get(k, 0)) / n, k) for k in b)[::-1]
print("instructions per request (self), by function:")
for v, k in rows[:top]:
    print(f"{v:8.0f}  {k}")
PY
[[ -n "${KEEP_TMP:-}" ]] && echo "callgrind files: $TMP (callgrind_annotate --inclusive=yes $large)"
exit 0
