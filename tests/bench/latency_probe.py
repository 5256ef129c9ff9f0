#!/usr/bin/env python3
"""latency_probe.py - one client's latency, by status, while a load runs.

    latency_probe.py HOST PORT PATH SECONDS [INTERVAL_MS]

Sends GET PATH on one keep-alive connection, one request at a time, a new
one INTERVAL_MS (default 20) after the previous answer, for SECONDS, and
prints the connection attempts, one line per status, and its own wake-up
delay:

    connects: 1, 0 failed, max 1.1 ms
    status 503: 412 answers, p50 1.2 ms, p99 4.8 ms, max 6.0 ms
    this probe's own wake-up after an answer came (not counted above): ...

A request still unanswered when SECONDS are over (under an overload it
may be queued behind a thousand others, first come first served) is
waited for no longer and printed as such; SIGTERM prints what was
measured so far.

wrk reports one latency for all answers; under an overload the fast 503s
and the slow 200s are apart, and this tells them apart. It reconnects
when the server closes the connection. Standard library only.

A latency runs from just before the request is sent to the kernel's
receive timestamp (SO_TIMESTAMPNS) of the answer's first bytes: on a
machine the load keeps busy, this process may wake up tens of
milliseconds after its answer came, and that delay is its own, not the
server's. The last line gives it (the wake-up delay) apart."""
import signal
import socket
import struct
import sys
import time

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux
CMSG_ROOM = socket.CMSG_SPACE(16)  # one struct timespec


def recv_stamped(sock):
    """(bytes, arrival in ns since the epoch or None) of one recv."""
    data, ancdata, _, _ = sock.recvmsg(65536, CMSG_ROOM)
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(payload) >= 16:
            sec, nsec = struct.unpack("qq", payload[:16])
            return data, sec * 1_000_000_000 + nsec
    return data, None


def read_response(sock, buf):
    """One response off `sock` (buf: bytes already read). Returns
    (status, rest of buf, arrival ns of its first bytes or None) or
    (None, b"", None) when the server closed."""
    arrived = None
    while b"\r\n\r\n" not in buf:
        chunk, stamp = recv_stamped(sock)
        if not chunk:
            return None, b"", None
        arrived = arrived or stamp
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            return None, b"", None
        rest += chunk
    return status, rest[length:], arrived


def pct(sorted_ms, p):
    return sorted_ms[min(len(sorted_ms) - 1, int(len(sorted_ms) * p / 100))]


def stop_early(signum, frame):
    raise KeyboardInterrupt


def probe(host, port, path, seconds, interval, by_status, wakeups, connects, unanswered):
    """Send, time and pace the requests for `seconds`, appending to the
    lists (see main). A request still unanswered at the end is waited for
    no longer."""
    request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    end = time.monotonic() + seconds
    sock, buf = None, b""
    while time.monotonic() < end:
        if sock is None:
            c0 = time.monotonic()
            try:
                sock = socket.create_connection((host, port), timeout=5)
            except OSError as err:
                connects.append(((time.monotonic() - c0) * 1000.0, str(err)))
                continue
            connects.append(((time.monotonic() - c0) * 1000.0, None))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            buf = b""
        t0 = time.time_ns()
        try:
            sock.settimeout(max(0.1, end - time.monotonic()))
            sock.sendall(request)
            status, buf, arrived = read_response(sock, buf)
        except socket.timeout:
            unanswered.append((time.time_ns() - t0) / 1e6)
            return  # queued behind the others (FIFO), past the probe's end
        except (OSError, ValueError, IndexError):
            status = None
        if status is None:
            sock.close()
            sock = None
            continue
        t1 = time.time_ns()
        arrived = arrived or t1  # (no stamp: the wake-up counts too)
        by_status.setdefault(status, []).append((arrived - t0) / 1e6)
        wakeups.append((t1 - arrived) / 1e6)
        time.sleep(interval)


def main():
    host, port, path, seconds = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
    interval = (float(sys.argv[5]) if len(sys.argv) > 5 else 20.0) / 1000.0
    by_status = {}  # status: [ms from sending to the answer's arrival]
    wakeups = []  # ms from an answer's arrival to this process reading it
    connects = []  # (ms, error or None) of every connection attempt
    unanswered = []  # ms the request in flight at the end had waited
    signal.signal(signal.SIGTERM, stop_early)  # an outer `timeout`: report what was measured
    try:
        probe(host, port, path, seconds, interval, by_status, wakeups, connects, unanswered)
    except KeyboardInterrupt:
        print("stopped early (SIGTERM)")
    failed = [e for _, e in connects if e]
    print(f"connects: {len(connects)}, {len(failed)} failed, max {max((ms for ms, _ in connects), default=0):.1f} ms"
          + (f" ({failed[0]})" if failed else ""))
    for status in sorted(by_status):
        ms = sorted(by_status[status])
        print(f"status {status}: {len(ms)} answers, p50 {pct(ms, 50):.1f} ms, "
              f"p99 {pct(ms, 99):.1f} ms, max {ms[-1]:.1f} ms")
    for ms in unanswered:
        print(f"one request unanswered at the end, after {ms:.0f} ms (queued)")
    if wakeups:
        ms = sorted(wakeups)
        print(f"this probe's own wake-up after an answer came (not counted above): "
              f"p50 {pct(ms, 50):.1f} ms, p99 {pct(ms, 99):.1f} ms, max {ms[-1]:.1f} ms")


if __name__ == "__main__":
    main()
