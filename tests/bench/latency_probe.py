#!/usr/bin/env python3
"""latency_probe.py - one client's latency, by status, while a load runs.

    latency_probe.py HOST PORT PATH SECONDS [INTERVAL_MS]

Sends GET PATH on one keep-alive connection, one request at a time, a new
one INTERVAL_MS (default 20) after the previous answer, for SECONDS, and
prints one line per status:

    status 503: 412 answers, p50 1.2 ms, p99 4.8 ms, max 6.0 ms

wrk reports one latency for all answers; under an overload the fast 503s
and the slow 200s are apart, and this tells them apart. It reconnects
when the server closes the connection. Standard library only."""
import socket
import sys
import time


def read_response(sock, buf):
    """One response off `sock` (buf: bytes already read). Returns
    (status, rest of buf) or (None, b"") when the server closed."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            return None, b""
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
            return None, b""
        rest += chunk
    return status, rest[length:]


def pct(sorted_ms, p):
    return sorted_ms[min(len(sorted_ms) - 1, int(len(sorted_ms) * p / 100))]


def main():
    host, port, path, seconds = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
    interval = (float(sys.argv[5]) if len(sys.argv) > 5 else 20.0) / 1000.0
    request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    by_status = {}
    end = time.monotonic() + seconds
    sock, buf = None, b""
    while time.monotonic() < end:
        if sock is None:
            sock = socket.create_connection((host, port), timeout=seconds + 5)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            buf = b""
        t0 = time.monotonic()
        try:
            sock.sendall(request)
            status, buf = read_response(sock, buf)
        except (OSError, ValueError, IndexError):
            status = None
        if status is None:
            sock.close()
            sock = None
            continue
        by_status.setdefault(status, []).append((time.monotonic() - t0) * 1000.0)
        time.sleep(interval)
    for status in sorted(by_status):
        ms = sorted(by_status[status])
        print(f"status {status}: {len(ms)} answers, p50 {pct(ms, 50):.1f} ms, "
              f"p99 {pct(ms, 99):.1f} ms, max {ms[-1]:.1f} ms")


if __name__ == "__main__":
    main()
