#!/usr/bin/env python3
"""Memory per idle keep-alive TLS connection, wedge and (optionally) nginx.

Opens N HTTPS connections to the server, sends one request on each and reads the answer,
keeps them all open and idle, and reports the server's RSS growth per connection.

    python3 benches/load/idle_connections.py [--connections 10000] [--nginx]
        [--settle 6] [--wedge-bin target/release/wedge]

Python 3.11 standard library only (with benches/benchlib.py); openssl makes an ECDSA P-256
certificate; nginx (for --nginx) comes from Debian. Raises its own open-file limit; run as
root for 10k+. Server logs go to the temp dir.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HOST = "bench.test"

sys.path.insert(0, str(REPO / "benches"))
from benchlib import (CHILDREN, free_port, install_missing, process_tree,  # noqa: E402
                      self_signed, status_kb, tcp_open, wait_for)


def open_idle(port: int, n: int) -> list[ssl.SSLSocket]:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["http/1.1"])
    request = f"GET /echo HTTP/1.1\r\nHost: {HOST}\r\nUser-Agent: idle-bench\r\n\r\n".encode()
    conns = []
    for i in range(n):
        raw = socket.create_connection(("127.0.0.1", port))
        tls = ctx.wrap_socket(raw, server_hostname=HOST)
        tls.sendall(request)
        read_response(tls)
        conns.append(tls)
        if (i + 1) % 2000 == 0:
            print(f"  {i + 1} connections open", file=sys.stderr)
    return conns


def read_response(tls: ssl.SSLSocket) -> None:
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = tls.recv(65536)
        if not chunk:
            raise SystemExit("server closed the connection before answering")
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if b"chunked" in head.lower():
        while not body.endswith(b"0\r\n\r\n"):
            body += tls.recv(65536)
        return
    while len(body) < length:
        body += tls.recv(65536)


def rss_kb(proc: subprocess.Popen) -> int:
    """Resident memory of proc and its direct children (an nginx master and its worker)."""
    return sum(status_kb(pid, "VmRSS") for pid in process_tree(proc.pid))


def parked(admin_port: int) -> str:
    """wedge's count of parked connections, from its /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/metrics", timeout=10) as r:
        body = r.read()
    for line in body.decode().splitlines():
        if line.startswith("wedge_parked_connections"):
            return line.split()[-1]
    return "?"


def measure(name: str, port: int, proc: subprocess.Popen, log: Path, n: int,
            settle: float, admin_port: int | None = None) -> float:
    wait_for(lambda: tcp_open(port), name, proc, log)
    # One connection first so lazily built state (TLS config, pools) is not counted.
    warm = open_idle(port, 1)
    time.sleep(1)
    before = rss_kb(proc)
    conns = open_idle(port, n)
    # Long enough for wedge to park every connection (idle 2-4 s; see [server]).
    time.sleep(settle)
    after = rss_kb(proc)
    per = (after - before) / n
    print(f"{name}: RSS {before / 1024:.1f} MB idle -> {after / 1024:.1f} MB with {n} idle "
          f"TLS connections: {per:.1f} KB per connection, "
          f"{per * 10000 / 1024:.0f} MB per 10k"
          + (f" ({parked(admin_port)} parked)" if admin_port else ""))
    for c in conns + warm:
        c.close()
    return per


def run_wedge(args, tmp: Path, cert: Path, key: Path) -> float:
    origin_port, port, admin_port = free_port(), free_port(), free_port()
    origin_log, log = tmp / "origin.log", tmp / "wedge.log"
    origin = CHILDREN.spawn([args.wedge_bin, "stub-origin", "--listen",
                             f"127.0.0.1:{origin_port}"], log=origin_log)
    conf = tmp / "wedge.toml"
    conf.write_text(f"""
[listeners]
https = "127.0.0.1:{port}"
admin = "127.0.0.1:{admin_port}"
[server]
header_read_timeout_ms = 3600000
max_connections = {args.connections + 100}
[tls]
default_certificate = "bench"
[certificates.bench]
cert = "{cert}"
key = "{key}"
[origins.stub]
members = [{{ url = "http://127.0.0.1:{origin_port}" }}]
[[distributions]]
id = "bench"
aliases = ["{HOST}"]
[distributions.default_behavior]
origin = "stub"
""")
    wait_for(lambda: tcp_open(origin_port), "stub origin", origin, origin_log)
    wedge = CHILDREN.spawn([args.wedge_bin, "serve", "--config", str(conf)], log=log)
    try:
        return measure("wedge", port, wedge, log, args.connections, args.settle, admin_port)
    finally:
        CHILDREN.stop_all()


def run_nginx(args, tmp: Path, cert: Path, key: Path) -> float:
    install_missing([] if shutil.which("nginx") else ["nginx"])
    port = free_port()
    conf = tmp / "nginx.conf"
    conf.write_text(f"""
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{ worker_connections {args.connections + 100}; }}
http {{
    access_log off;
    keepalive_timeout 3600s;
    keepalive_requests 100000;
    server {{
        listen 127.0.0.1:{port} ssl;
        server_name {HOST};
        ssl_certificate {cert};
        ssl_certificate_key {key};
        location / {{ return 200 "ok\\n"; }}
    }}
}}
""")
    log = tmp / "nginx.log"
    master = CHILDREN.spawn(["nginx", "-p", str(tmp), "-c", str(conf), "-g", "daemon off;"],
                            log=log)
    try:
        return measure("nginx (1 worker)", port, master, log, args.connections, args.settle)
    finally:
        CHILDREN.stop_all()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--connections", type=int, default=10000)
    p.add_argument("--wedge-bin", default=str(REPO / "target/release/wedge"))
    p.add_argument("--nginx", action="store_true", help="measure nginx the same way")
    p.add_argument("--settle", type=float, default=6.0,
                   help="seconds idle before measuring (wedge parks after 2-4 s)")
    args = p.parse_args()
    want = args.connections * 2 + 1000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    with tempfile.TemporaryDirectory(prefix="wedge-idle-") as d:
        tmp = Path(d)
        cert, key = self_signed(tmp, HOST)
        wedge = run_wedge(args, tmp, cert, key)
        if args.nginx:
            nginx = run_nginx(args, tmp, cert, key)
            print(f"wedge/nginx per idle connection: {wedge / nginx:.2f}")


if __name__ == "__main__":
    main()
