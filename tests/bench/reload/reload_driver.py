#!/usr/bin/env python3
"""reload_driver.py - the timeline of one row of bench_reload.sh.

    reload_driver.py run  [options] -- <wrk command ...>
    reload_driver.py table <result.json> ...

`run` does, against one already running server:

  1. starts a probe thread that polls GET <path> on its own keep-alive
     connection as fast as it can, timestamping every response with
     CLOCK_MONOTONIC (time.monotonic_ns) and recording each change of body;
  2. waits until the probe sees the initial body, then starts wrk;
  3. after --start-delay, performs up to --reloads reloads, one at a time:
     plughost  odd:  rewrite server.ini in place (greeting = g<N>)
               even: swap app.so between it_v1.so and it_v2.so by an atomic
                     rename (copied to a temp name that does not end in .so)
     nginx     every reload rewrites the returned string in nginx.conf
               (in place) and runs `nginx -s reload`;
     t0 is taken right after the change is complete (close/rename), the
     latency is t(first probe response carrying the new body) - t0; the next
     reload starts once the new body was seen (bounded by --observe-timeout)
     plus --pause. No reload is started later than --stop-margin seconds
     before wrk's end, so every reload happens under load;
  4. waits for wrk, stops the probe, parses wrk's output (including the
     RELOADBENCH lines of count.lua) and the server's log, and writes
     everything to --out as JSON.

`table` prints the comparison table and the details of the given results.
"""

import argparse
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time


def now_ns():
    return time.monotonic_ns()


def log(msg):
    print("[reload-driver] " + msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------- probe
class Probe(threading.Thread):
    """Sequential GETs on one keep-alive connection, as fast as possible."""

    def __init__(self, port, path):
        super().__init__(daemon=True)
        self.addr = ("127.0.0.1", port)
        self.req = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % (path, port)).encode()
        self.cond = threading.Condition()
        self.stopping = threading.Event()
        self.first_seen = {}      # body -> t_ns of the first response with it
        self.transitions = []     # (t_ns, body, t_ns of the previous answer) each time the body changed
        self.body = None
        self.sent = 0             # requests written
        self.answered = 0         # complete responses read
        self.unanswered = 0       # written, then the connection failed before a full response
        self.non200 = 0
        self.connects = 0
        self.connect_errors = 0
        self.server_closes = 0    # clean closes between requests (Connection: close / EOF while idle)
        self.errors = []          # first few error texts
        self.max_gap_ns = 0       # longest time between two answered responses
        self.max_gap_at = 0
        self.last_answer = None
        self.first_answer = None
        self.sock = None
        self.buf = b""

    def note_error(self, text):
        if len(self.errors) < 20:
            self.errors.append("%.3f s: %s" % (now_ns() / 1e9, text))

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        self.sock = None
        self.buf = b""

    def recv_more(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed by the server")
        self.buf += chunk

    def read_response(self):
        while b"\r\n\r\n" not in self.buf:
            self.recv_more()
        head, rest = self.buf.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(b":")
            headers[k.strip().lower()] = v.strip().lower()
        if b"content-length" not in headers:
            raise ValueError("response without Content-Length: %r" % lines[0])
        n = int(headers[b"content-length"])
        self.buf = rest
        while len(self.buf) < n:
            self.recv_more()
        body, self.buf = self.buf[:n], self.buf[n:]
        return status, body.decode("utf-8", "replace"), headers.get(b"connection") == b"close"

    def run(self):
        while not self.stopping.is_set():
            if self.sock is None:
                try:
                    self.sock = socket.create_connection(self.addr, timeout=5)
                    self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    self.connects += 1
                except OSError as e:
                    self.connect_errors += 1
                    self.note_error("connect: %s" % e)
                    self.sock = None
                    time.sleep(0.01)
                    continue
            try:
                self.sock.sendall(self.req)
            except OSError as e:
                # the server closed an idle keep-alive connection: not a lost request
                self.server_closes += 1
                self.close()
                continue
            self.sent += 1
            try:
                status, body, close = self.read_response()
            except (OSError, EOFError, ValueError, IndexError) as e:
                self.unanswered += 1
                self.note_error("request %d unanswered: %s" % (self.sent, e))
                self.close()
                continue
            t = now_ns()
            prev = self.last_answer
            self.answered += 1
            if self.first_answer is None:
                self.first_answer = t
            if self.last_answer is not None and t - self.last_answer > self.max_gap_ns:
                self.max_gap_ns, self.max_gap_at = t - self.last_answer, t
            self.last_answer = t
            if status != 200:
                self.non200 += 1
                self.note_error("status %d body %r" % (status, body[:80]))
            if body != self.body:
                with self.cond:
                    self.body = body
                    self.transitions.append((t, body, prev))
                    self.first_seen.setdefault(body, t)
                    self.cond.notify_all()
            if close:
                self.server_closes += 1
                self.close()
        self.close()

    def wait_for(self, body, timeout):
        """t_ns of the first response with `body`, or None after `timeout` s."""
        with self.cond:
            self.cond.wait_for(lambda: body in self.first_seen, timeout)
            return self.first_seen.get(body)

    def stop(self):
        self.stopping.set()
        self.join(10)


# ------------------------------------------------------------------ changes
def rewrite_in_place(path, pattern, repl):
    """Edit a file the way `cat > file` does: truncate and write, same inode."""
    with open(path) as f:
        text = f.read()
    new, n = re.subn(pattern, repl, text, flags=re.M)
    if n != 1:
        raise RuntimeError("%s: pattern %r matched %d times" % (path, pattern, n))
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    try:
        os.write(fd, new.encode())
    finally:
        os.close(fd)


class PlughostChanger:
    def __init__(self, a):
        self.ini, self.dir, self.v1, self.v2 = a.ini, a.plugin_dir, a.v1, a.v2
        self.version, self.greeting = 1, 0

    def initial(self):
        return "v1 g0"

    def reload(self, i):
        """Performs reload i; returns (what, t0_ns, expected body, extra)."""
        if i % 2 == 1:
            self.greeting = i
            rewrite_in_place(self.ini, r"^greeting = .*$", "greeting = g%d" % i)
            t0 = now_ns()
            what = "ini greeting=g%d" % i
        else:
            self.version = 3 - self.version
            tmp = os.path.join(self.dir, ".app.new")    # not *.so: ignored by the watcher
            shutil.copyfile(self.v1 if self.version == 1 else self.v2, tmp)
            os.rename(tmp, os.path.join(self.dir, "app.so"))
            t0 = now_ns()
            what = "so -> it_v%d" % self.version
        return what, t0, "v%d g%d" % (self.version, self.greeting), {}


class NginxChanger:
    def __init__(self, a):
        self.conf, self.prefix, self.err, self.bin = a.nginx_conf, a.nginx_prefix, a.nginx_err, a.nginx_bin

    def initial(self):
        return "g0"

    def reload(self, i):
        rewrite_in_place(self.conf, r'return 200 "[^"]*";', 'return 200 "g%d";' % i)
        t0 = now_ns()
        r = subprocess.run([self.bin, "-c", self.conf, "-p", self.prefix, "-e", self.err, "-s", "reload"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=10)
        t1 = now_ns()
        extra = {"signal_ms": (t1 - t0) / 1e6}
        if r.returncode != 0:
            extra["signal_error"] = "rc %d: %s" % (r.returncode, r.stdout.decode(errors="replace").strip())
        return "conf g%d + nginx -s reload" % i, t0, "g%d" % i, extra


# ---------------------------------------------------------------- parsing
def to_ms(text):
    m = re.match(r"([\d.]+)(us|ms|s|m)$", text)
    if not m:
        return None
    v, u = float(m.group(1)), m.group(2)
    return {"us": v / 1000, "ms": v, "s": v * 1000, "m": v * 60000}[u]


def parse_wrk(text, connections, threads):
    w = {"raw_ok": False}
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+),", text)
    if m:
        w["requests"] = int(m.group(1))
        w["raw_ok"] = True
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    w["rps"] = float(m.group(1)) if m else None
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    w["sock"] = dict(zip(("connect", "read", "write", "timeout"), map(int, m.groups()))) if m else \
        {"connect": 0, "read": 0, "write": 0, "timeout": 0}
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    w["non2xx"] = int(m.group(1)) if m else 0
    for p in ("50", "99"):
        m = re.search(r"^\s+%s(?:\.000)?%%\s+(\S+)" % p, text, re.M)
        w["lat_p%s_ms" % p] = to_ms(m.group(1)) if m else None
    per = re.findall(r"RELOADBENCH thread (\d+) sent (\d+) recv (\d+) non2xx (\d+)", text)
    tot = re.search(r"RELOADBENCH total sent (\d+) recv (\d+) non2xx (\d+) complete (\d+) threads (\d+)", text)
    if tot:
        sent, recv, n2, complete, nthreads = map(int, tot.groups())
        base, extra = divmod(connections, threads)   # wrk gives each thread connections/threads
        per_conns = [base + (1 if k < extra else 0) for k in range(threads)]
        lost = 0
        for k, (_, ts, tr, _) in enumerate(per):
            lost += max(0, int(ts) - int(tr) - (per_conns[k] if k < len(per_conns) else 0))
        w.update(sent=sent, recv=recv, lua_non2xx=n2, complete=complete,
                 diff=sent - recv, lost=lost, in_flight=sent - recv - lost,
                 per_thread=[{"sent": int(s), "recv": int(r)} for _, s, r, _ in per])
    return w


def parse_log(kind, path):
    out = {"path": path, "reloads_logged": 0, "rejected": 0, "took_ms": [], "problems": [], "problem_count": 0}
    try:
        with open(path, errors="replace") as f:
            lines = f.read().splitlines()
    except OSError as e:
        out["problems"].append("cannot read log: %s" % e)
        return out
    for line in lines:
        bad = False
        if kind == "plughost":
            m = re.search(r"reload \((.*)\): generation (\d+) serving (\d+) routes(?: on \d+ workers)?, took ([\d.]+) ms", line)
            if m:
                out["reloads_logged"] += 1
                out["took_ms"].append(float(m.group(4)))
            if "rejected" in line:
                out["rejected"] += 1
                bad = True
            if re.search(r"error|warn|fatal|abort|sanitizer|segv|crash", line, re.I):
                bad = True
        else:
            if line.endswith(": reconfiguring"):
                out["reloads_logged"] += 1
            if re.search(r"\[(emerg|alert|crit|error|warn)\]", line):
                bad = True
        if bad:
            out["problem_count"] += 1
            if len(out["problems"]) < 15:
                out["problems"].append(line)
    return out


def process_alive(pid):
    """(alive?, text): a zombie or a missing process is dead."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("State:"):
                    if "Z" in line.split()[1]:
                        return False, "pid %d is a zombie (exited)" % pid
                    return True, ""
    except OSError:
        pass
    return False, "pid %d is gone" % pid


def pct(values, p):
    """Nearest-rank percentile."""
    if not values:
        return None
    v = sorted(values)
    return v[max(0, math.ceil(p / 100 * len(v)) - 1)]


# -------------------------------------------------------------------- run
def cmd_run(a, wrk_cmd):
    changer = PlughostChanger(a) if a.kind == "plughost" else NginxChanger(a)
    res = {"name": a.name, "kind": a.kind, "reloads_wanted": a.reloads, "duration_s": a.duration_s,
           "connections": a.connections, "threads": a.threads, "reloads": [], "notes": []}
    probe = Probe(a.port, a.path)
    probe.start()
    if probe.wait_for(changer.initial(), 10) is None:
        probe.stop()
        res["notes"].append("probe never saw the initial body %r (last body %r, errors %s)"
                            % (changer.initial(), probe.body, probe.errors[:3]))
        log(res["notes"][-1])
        json.dump(res, open(a.out, "w"), indent=1)
        return 1

    wrk_out = open(a.wrk_out, "w")
    t_start = now_ns()
    wrk = subprocess.Popen(wrk_cmd, stdout=wrk_out, stderr=subprocess.STDOUT)
    log("%s: wrk started (%s), reloads after %.1f s" % (a.name, " ".join(wrk_cmd), a.start_delay))
    try:
        time.sleep(a.start_delay)
        missed = 0
        for i in range(1, a.reloads + 1):
            elapsed = (now_ns() - t_start) / 1e9
            if elapsed > a.duration_s - a.stop_margin:
                res["notes"].append("only %d of %d reloads fit before %.1f s of the %d s wrk run"
                                    % (i - 1, a.reloads, a.duration_s - a.stop_margin, a.duration_s))
                log(res["notes"][-1])
                break
            if wrk.poll() is not None:
                res["notes"].append("wrk exited early (rc %s) before reload %d" % (wrk.returncode, i))
                log(res["notes"][-1])
                break
            what, t0, expected, extra = changer.reload(i)
            t_seen = probe.wait_for(expected, a.observe_timeout)
            r = {"i": i, "what": what, "at_s": (t0 - t_start) / 1e9, "expected": expected,
                 "latency_ms": None if t_seen is None else (t_seen - t0) / 1e6}
            r.update(extra)
            res["reloads"].append(r)
            if t_seen is None:
                missed += 1
                log("reload %d (%s): new body %r NOT seen within %.1f s (probe body %r)"
                    % (i, what, expected, a.observe_timeout, probe.body))
            elif a.verbose:
                log("reload %d (%s): %.1f ms" % (i, what, r["latency_ms"]))
            time.sleep(a.pause)
        res["reloads_done"] = len(res["reloads"])
        res["reloads_seen"] = len(res["reloads"]) - missed
        res["reloads_end_s"] = (now_ns() - t_start) / 1e9
        try:
            rc = wrk.wait(timeout=a.duration_s + 60)
        except subprocess.TimeoutExpired:
            wrk.kill()
            rc = wrk.wait()
            res["notes"].append("wrk did not finish in time and was killed")
        res["wrk_rc"] = rc
    finally:
        if wrk.poll() is None:
            # SIGTERM: `timeout` passes it on to wrk (a SIGKILL would orphan wrk)
            wrk.terminate()
            try:
                wrk.wait(timeout=5)
            except subprocess.TimeoutExpired:
                wrk.kill()
                wrk.wait()
        wrk_out.close()
        probe.stop()

    # Body flaps: a body that went away and came back (an old generation answering after a new one).
    bodies = [b for _, b, _ in probe.transitions]
    flaps = len(bodies) - len(set(bodies))
    # Across each switch: last response with the old body -> first with the new one.
    switch = [(t - prev) / 1e6 for t, _, prev in probe.transitions[1:] if prev is not None]
    mean_rtt = None
    if probe.answered > 1 and probe.last_answer and probe.first_answer:
        mean_rtt = (probe.last_answer - probe.first_answer) / 1e6 / (probe.answered - 1)
    lat = [r["latency_ms"] for r in res["reloads"] if r["latency_ms"] is not None]
    res["latency_ms"] = {"n": len(lat), "median": pct(lat, 50), "p99": pct(lat, 99),
                         "min": min(lat) if lat else None, "max": max(lat) if lat else None}
    kinds = {}
    for r in res["reloads"]:
        if r["latency_ms"] is not None:
            kinds.setdefault(r["what"].split()[0], []).append(r["latency_ms"])
    res["latency_by_kind"] = {k: {"n": len(v), "median": pct(v, 50), "p99": pct(v, 99)} for k, v in kinds.items()}
    res["signal_errors"] = [r["signal_error"] for r in res["reloads"] if "signal_error" in r]
    res["probe"] = {"sent": probe.sent, "answered": probe.answered, "unanswered": probe.unanswered,
                    "non200": probe.non200, "connects": probe.connects, "connect_errors": probe.connect_errors,
                    "server_closes": probe.server_closes, "transitions": len(probe.transitions),
                    "flaps": flaps, "max_gap_ms": probe.max_gap_ns / 1e6, "mean_rtt_ms": mean_rtt,
                    "switch_gap_ms": {"median": pct(switch, 50), "p99": pct(switch, 99),
                                      "max": max(switch) if switch else None},
                    "max_gap_at_s": (probe.max_gap_at - t_start) / 1e9 if probe.max_gap_at else None,
                    "errors": probe.errors}
    with open(a.wrk_out) as f:
        res["wrk_text"] = f.read()
    res["wrk"] = parse_wrk(res["wrk_text"], a.connections, a.threads)
    if a.server_log:
        res["log"] = parse_log(a.kind, a.server_log)
    if a.server_pid:
        res["server_alive"], res["server_exit"] = process_alive(a.server_pid)
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)
    return 0


# ------------------------------------------------------------------ table
def fmt(v, spec="%.1f", none="-"):
    return none if v is None else spec % v


def cmd_table(paths):
    rows = []
    for p in paths:
        try:
            with open(p) as f:
                rows.append(json.load(f))
        except (OSError, ValueError) as e:
            print("(no result in %s: %s)" % (p, e))
    cols = ["server", "reloads", "requests", "req/s", "non-2xx", "sock c/r/w/t",
            "unanswered", "in flight@stop", "change->new median ms", "p99 ms", "max ms"]
    table = []
    for r in rows:
        w = r.get("wrk", {})
        s = w.get("sock", {})
        lat = r.get("latency_ms", {})
        done, seen = r.get("reloads_done", 0), r.get("reloads_seen", 0)
        rel = "%d/%d" % (done, r.get("reloads_wanted", 0)) + ("" if seen == done else " (%d unseen)" % (done - seen))
        possibly = s.get("read", 0) + s.get("write", 0) + s.get("timeout", 0)
        unans = "-" if "lost" not in w else str(w["lost"]) + ("" if not possibly else " (+<=%d?)" % possibly)
        table.append([r["name"], rel, fmt(w.get("requests"), "%d"), fmt(w.get("rps"), "%.0f"),
                      fmt(w.get("non2xx"), "%d"),
                      "%d/%d/%d/%d" % (s.get("connect", 0), s.get("read", 0), s.get("write", 0), s.get("timeout", 0)),
                      unans, fmt(w.get("in_flight"), "%d"),
                      fmt(lat.get("median")), fmt(lat.get("p99")), fmt(lat.get("max"))])
    widths = [max(len(c), *(len(t[k]) for t in table)) if table else len(c) for k, c in enumerate(cols)]
    line = "  ".join(c.rjust(widths[k]) if k else c.ljust(widths[k]) for k, c in enumerate(cols))
    print(line)
    print("-" * len(line))
    for t in table:
        print("  ".join(v.rjust(widths[k]) if k else v.ljust(widths[k]) for k, v in enumerate(t)))
    print()
    for r in rows:
        w, p, lg = r.get("wrk", {}), r.get("probe", {}), r.get("log", {})
        print("%s:" % r["name"])
        if "sent" in w:
            print("  wrk (count.lua): sent %d, answered %d (wrk 'requests' %d), sent-answered %d = %d in flight "
                  "at stop (<= 1 per connection, %d connections) + %d beyond that bound"
                  % (w["sent"], w["recv"], w.get("requests", -1), w["diff"], w["in_flight"],
                     r.get("connections", 0), w["lost"]))
            print("  wrk per thread sent/answered: %s" % ", ".join("%d/%d" % (t["sent"], t["recv"]) for t in w["per_thread"]))
        else:
            print("  wrk: no RELOADBENCH lines (wrk failed?)")
        print("  wrk latency p50 %s ms, p99 %s ms" % (fmt(w.get("lat_p50_ms"), "%.2f"), fmt(w.get("lat_p99_ms"), "%.2f")))
        kinds = r.get("latency_by_kind", {})
        if kinds:
            print("  change->new by kind: " + "; ".join("%s n=%d median %.1f p99 %.1f ms" % (k, v["n"], v["median"], v["p99"])
                                                   for k, v in sorted(kinds.items())))
        if r.get("reloads"):
            print("  reloads from %.1f s to %.1f s of the %d s run" % (r["reloads"][0]["at_s"], r.get("reloads_end_s", 0), r.get("duration_s", 0)))
        if p:
            print("  probe: %d requests, %d answered, %d unanswered, %d non-200, %d connects (%d failed), "
                  "%d server closes, %d body changes, %d flaps (old body after new), longest gap %.1f ms"
                  % (p["sent"], p["answered"], p["unanswered"], p["non200"], p["connects"], p["connect_errors"],
                     p["server_closes"], p["transitions"], p["flaps"], p["max_gap_ms"]))
            sg = p.get("switch_gap_ms") or {}
            if sg.get("median") is not None:
                print("  probe across each switch (last old-body response -> first new-body response): median %.2f ms, "
                      "p99 %.2f ms, max %.2f ms; mean probe round trip %.2f ms"
                      % (sg["median"], sg["p99"], sg["max"], p.get("mean_rtt_ms") or 0))
            for e in p.get("errors", [])[:5]:
                print("    probe: " + e)
        sig = [x["signal_ms"] for x in r.get("reloads", []) if "signal_ms" in x]
        if sig:
            print("  'nginx -s reload' command: median %.1f ms, max %.1f ms" % (pct(sig, 50), max(sig)))
        for e in r.get("signal_errors", [])[:5]:
            print("    signal error: " + e)
        if lg:
            took = lg.get("took_ms", [])
            extra = (", logged reload time median %.1f ms, max %.1f ms" % (pct(took, 50), max(took))) if took else ""
            print("  log %s: %d reloads logged, %d rejected, %d problem lines%s"
                  % (lg.get("path", ""), lg.get("reloads_logged", 0), lg.get("rejected", 0), lg.get("problem_count", 0), extra))
            for l in lg.get("problems", [])[:10]:
                print("    log: " + l)
        for n in r.get("notes", []):
            print("  NOTE: " + n)
        if r.get("server_alive") is False:
            print("  SERVER DIED: " + r.get("server_exit", ""))
        print()
    return 0


def main():
    # SIGTERM (the bench script's trap) unwinds like Ctrl-C, so wrk is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if len(sys.argv) > 1 and sys.argv[1] == "table":
        return cmd_table(sys.argv[2:])
    argv = sys.argv[1:]
    if not argv or argv[0] != "run" or "--" not in argv:
        print(__doc__, file=sys.stderr)
        return 2
    sep = argv.index("--")
    ap = argparse.ArgumentParser(prog="reload_driver.py run")
    ap.add_argument("--name", required=True)
    ap.add_argument("--kind", choices=("plughost", "nginx"), required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--path", default="/app")
    ap.add_argument("--reloads", type=int, default=100)
    ap.add_argument("--duration-s", type=int, required=True)
    ap.add_argument("--start-delay", type=float, default=2.0)
    ap.add_argument("--stop-margin", type=float, default=2.0)
    ap.add_argument("--observe-timeout", type=float, default=5.0)
    ap.add_argument("--pause", type=float, default=0.1)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ini")
    ap.add_argument("--plugin-dir")
    ap.add_argument("--v1")
    ap.add_argument("--v2")
    ap.add_argument("--nginx-conf")
    ap.add_argument("--nginx-prefix")
    ap.add_argument("--nginx-err")
    ap.add_argument("--nginx-bin", default="nginx")
    ap.add_argument("--server-log")
    ap.add_argument("--server-pid", type=int)
    ap.add_argument("--out", required=True)
    ap.add_argument("--wrk-out", required=True)
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args(argv[1:sep])
    return cmd_run(a, argv[sep + 1:])


if __name__ == "__main__":
    sys.exit(main())
