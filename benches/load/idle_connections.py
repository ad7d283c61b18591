#!/usr/bin/env python3
"""Memory per idle keep-alive TLS connection, wedge and (optionally) nginx.

Opens N HTTPS connections to the server, sends one request on each and reads the answer,
keeps them all open and idle, and reports the server's RSS growth per connection.

    python3 benches/load/idle_connections.py [--connections 10000] [--nginx]
        [--wedge-bin target/release/wedge]

Python 3.11 standard library only; openssl makes an ECDSA P-256 certificate; nginx (for
--nginx) comes from Debian. Raises its own open-file limit; run as root for 10k+.
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
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HOST = "bench.test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listening on {port} after {timeout}s")


def rss_kb(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def make_cert(dir: Path) -> tuple[Path, Path]:
    cert, key = dir / "cert.pem", dir / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-days", "2", "-subj", f"/CN={HOST}", "-addext", f"subjectAltName=DNS:{HOST}",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True)
    return cert, key


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


def measure(name: str, port: int, pids: callable, n: int, settle: float) -> float:
    wait_port(port)
    # One connection first so lazily built state (TLS config, pools) is not counted.
    warm = open_idle(port, 1)
    time.sleep(1)
    before = rss_kb(pids())
    conns = open_idle(port, n)
    # Long enough for wedge to park every connection (idle 2-4 s; see [server]).
    time.sleep(settle)
    after = rss_kb(pids())
    per = (after - before) / n
    print(f"{name}: RSS {before / 1024:.1f} MB idle -> {after / 1024:.1f} MB with {n} idle "
          f"TLS connections: {per:.1f} KB per connection, "
          f"{per * 10000 / 1024:.0f} MB per 10k")
    for c in conns + warm:
        c.close()
    return per


def run_wedge(args, tmp: Path, cert: Path, key: Path) -> float:
    origin_port, port = free_port(), free_port()
    origin = subprocess.Popen([args.wedge_bin, "stub-origin", "--listen", f"127.0.0.1:{origin_port}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    conf = tmp / "wedge.toml"
    conf.write_text(f"""
[listeners]
https = "127.0.0.1:{port}"
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
    wedge = subprocess.Popen([args.wedge_bin, "serve", "--config", str(conf)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(origin_port)
        return measure("wedge", port, lambda: [wedge.pid], args.connections, args.settle)
    finally:
        wedge.terminate()
        origin.terminate()
        wedge.wait()
        origin.wait()


def run_nginx(args, tmp: Path, cert: Path, key: Path) -> float:
    if not shutil.which("nginx"):
        subprocess.run(["apt-get", "install", "-y", "-q", "nginx"], check=True)
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
    master = subprocess.Popen(["nginx", "-p", str(tmp), "-c", str(conf), "-g", "daemon off;"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        return measure("nginx (1 worker)", port, lambda: [master.pid] + children(master.pid),
                       args.connections, args.settle)
    finally:
        master.terminate()
        master.wait()


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
        cert, key = make_cert(tmp)
        wedge = run_wedge(args, tmp, cert, key)
        if args.nginx:
            nginx = run_nginx(args, tmp, cert, key)
            print(f"wedge/nginx per idle connection: {wedge / nginx:.2f}")


if __name__ == "__main__":
    main()
