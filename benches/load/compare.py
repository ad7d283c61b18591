#!/usr/bin/env python3
"""Side-by-side load comparison of wedge and nginx on one machine, in one run.

Starts a shared nginx origin (static 1 KiB file), then for each scenario a wedge and an nginx
contender in front of it (HTTPS to the client, plain HTTP keep-alive to the origin), and drives
both with the same load generator, alternating runs. Prints per-run figures and a summary of
medians with wedge/nginx and wedge/ceiling ratios.

    python3 benches/load/compare.py [--duration 10] [--rounds 3]
        [--scenarios proxy,proxy-unique-ua,proxy-unique-query,ceiling,h2,handshake,cache,
                     waf,waf-unique-ua,waf-unique-query,waf-unique-search,half-h1,half-h2,floor]
        [--pin split|off] [--json out.json]

Python 3.11 standard library only (with benches/benchlib.py). Runs as root on Debian: installs nginx, wrk and h2load with
apt-get when they are missing, and builds wedge and the wasm functions with cargo.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchlib import (CHILDREN, FLOOR_BIN, FUNCTIONS_TARGET, REPO, WEDGE_BIN,  # noqa: E402
                      admin_healthy, cargo_build,
                      cpu_seconds, free_port, install_missing, parse_duration_ms, parse_wrk,
                      pinned, process_tree, render, run_main, run_tool, self_signed, spawn_nginx,
                      status_kb, wait_for)

HERE = Path(__file__).resolve().parent
DEVICE_CLASS_WASM = FUNCTIONS_TARGET / "wasm32-wasip2/release/device_class.wasm"
CACHE_KEY_WASM = FUNCTIONS_TARGET / "wasm32-wasip2/release/cache_key.wasm"
SECURITY_HEADERS_WASM = FUNCTIONS_TARGET / "wasm32-wasip2/release/security_headers.wasm"
WAF_WASM = FUNCTIONS_TARGET / "wasm32-wasip2/release/waf.wasm"
# What nginx adds in the cache scenario: security-headers' defaults, header for header.
SECURITY_HEADERS = {
    "Strict-Transport-Security": '"max-age=31536000; includeSubDomains"',
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "SAMEORIGIN",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Content-Security-Policy":
        "\"default-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'self'\"",
}

HOST = "bench.test"
BENCH_PATH = "/1k.html"
MOBILE_UA = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36"
)
DEVICE_HEADERS = {
    "cloudfront-is-desktop-viewer": "$device_is_desktop",
    "cloudfront-is-mobile-viewer": "$device_is_mobile",
    "cloudfront-is-tablet-viewer": "$device_is_tablet",
    "cloudfront-is-smarttv-viewer": "$device_is_smarttv",
    "x-device-class": "$device_class",
}
# What the origin's /__device probe must echo for MOBILE_UA (class, desktop, mobile, tablet, tv).
EXPECTED_DEVICE_ECHO = "mobile false true false false"
PACKAGES = {"nginx": "nginx", "wrk": "wrk", "h2load": "nghttp2-client", "openssl": "openssl",
            "taskset": "util-linux"}

# Servers (contenders and origin) and the load generator under `--pin split`.
SERVER_CPUS = "0"
LOADGEN_CPUS = "1"


@dataclass
class Scenario:
    """One comparison: how each contender is configured and how the load is generated."""

    name: str
    description: str
    functions: bool = False  # wedge runs device-class / nginx runs the User-Agent map
    cert: str = "ecdsa"
    # "wrk" (HTTPS keep-alive), "h2load" (HTTP/2 -m10), "fresh" (one-shot clients, each doing a
    # full TLS handshake and one HTTP/1.1 request), "half-h1" / "half-h2" (a 5 s peak probe
    # of each contender, then a steady rate of half its own peak, HTTP/1.1 or HTTP/2)
    load: str = "wrk"
    duration: int | None = None  # overrides --duration
    rounds: int | None = None  # overrides --rounds
    # "user-agent": every request a never-seen User-Agent (defeats decision reuse); "query":
    # every request a never-sent query string (a cache-buster token), the headers those of
    # one browser; "search": the same with a never-sent search text, which the WAF inspects
    unique: str = ""
    # wedge caches with three functions (device-class, cache-key, security-headers); nginx
    # uses proxy_cache keyed by the mapped device class and adds the same headers
    cache: bool = False
    # wedge runs the WAF (managed rule set, block mode) before device-class, compared with
    # its own `proxy` run; no nginx run (nginx + ModSecurity: benches/waf/modsec_compare.py)
    waf: bool = False
    # Who wedge is compared with: "nginx", or "floor" (benches' floor-proxy: hyper, hyper-util's
    # client and rustls with nothing of wedge's, so the gap is wedge's own proxy path)
    peer: str = "nginx"
    skip: str | None = None  # a reason: the scenario is listed but not run


SCENARIOS = {
    s.name: s
    for s in [
        Scenario("proxy", "HTTPS keep-alive proxy, device classification on every request",
                 functions=True),
        Scenario("proxy-unique-ua", "as proxy, but every request has a new User-Agent",
                 functions=True, unique="user-agent"),
        Scenario("proxy-unique-query", "as proxy, but every request has a new query string",
                 functions=True, unique="query"),
        Scenario("ceiling", "HTTPS keep-alive proxy, no functions (wedge's ceiling)"),
        Scenario("h2", "HTTP/2 proxy, no functions (h2load -m10)", load="h2load"),
        Scenario("half-h1", "HTTPS keep-alive + device-class at half of each one's peak, 60 s",
                 functions=True, load="half-h1", duration=60, rounds=1),
        Scenario("half-h2", "HTTP/2 proxy at half of each one's peak, 60 s", load="half-h2",
                 duration=60, rounds=1),
        Scenario("handshake-ecdsa", "full TLS handshakes/s, ECDSA P-256 cert", load="fresh"),
        Scenario("handshake-rsa", "full TLS handshakes/s, RSA 2048 cert", cert="rsa",
                 load="fresh"),
        Scenario("cache", "cache hits, three functions per request vs nginx proxy_cache",
                 functions=True, cache=True),
        Scenario("waf", "as proxy, with the WAF's managed rule set before device-class",
                 functions=True, waf=True),
        Scenario("waf-unique-ua", "as waf, but every request has a new User-Agent (no "
                 "verdict or decision to reuse)", functions=True, waf=True, unique="user-agent"),
        Scenario("waf-unique-query", "as waf, but every request has a new cache-buster token "
                 "in its query (its verdict reused by query shape; the browser's headers "
                 "repeat)", functions=True, waf=True, unique="query"),
        Scenario("waf-unique-search", "as waf, but every request has a new search text in its "
                 "query (no verdict to reuse: the WAF inspects every one)", functions=True,
                 waf=True, unique="search"),
        Scenario("floor", "as ceiling, against the bare stack (hyper + rustls floor-proxy) "
                 "instead of nginx", peer="floor"),
    ]
}
ALIASES = {"handshake": ["handshake-ecdsa", "handshake-rsa"]}
DEFAULT_SCENARIOS = ("proxy,proxy-unique-ua,proxy-unique-query,ceiling,h2,handshake,cache,"
                     "waf,waf-unique-ua,waf-unique-query,waf-unique-search,half-h1,half-h2")


@dataclass
class RunResult:
    """The figures of one measured run of one contender."""

    scenario: str
    contender: str
    round: int
    rps: float
    requests: int
    p50_ms: float | None  # None for handshake runs (see fresh_handshakes)
    p99_ms: float | None
    errors: int
    cpu_s: float
    cpu_us_per_req: float
    peak_rss_mb: float
    origin_cpu_us_per_req: float
    loadavg_1m: float
    ttfb_mean_ms: float | None = None  # handshake runs: connect + handshake + first response


# --------------------------------------------------------------------------- setup


def ensure_packages() -> None:
    """apt-get install whatever of nginx, wrk, h2load, openssl and taskset is missing."""
    install_missing(sorted({pkg for tool, pkg in PACKAGES.items() if not shutil.which(tool)}))


def build() -> None:
    """Release builds of wedge, of the wasm functions and of the floor scenario's bare proxy."""
    cargo_build()
    subprocess.run(["cargo", "build", "--release", "-p", "wedge-benches", "--bin", "floor-proxy"],
                   cwd=REPO, check=True)
    for artifact in (WEDGE_BIN, FLOOR_BIN, DEVICE_CLASS_WASM, CACHE_KEY_WASM, SECURITY_HEADERS_WASM, WAF_WASM):  # the defaults --wedge-bin etc. point at
        if not artifact.exists():
            raise RuntimeError(f"build did not produce {artifact}")


def make_certs(workdir: Path) -> dict[str, tuple[Path, Path]]:
    """Self-signed ECDSA P-256 and RSA 2048 certificates for HOST (with a DNS SAN)."""
    return {kind: self_signed(workdir, HOST, kind) for kind in ("ecdsa", "rsa")}


# --------------------------------------------------------------------------- servers


@dataclass
class Server:
    """A running server (origin or contender) and how to measure it."""

    name: str
    proc: subprocess.Popen
    port: int
    kind: str  # "wedge", "nginx" or "floor"

    def pids(self) -> list[int]:
        """The processes whose CPU counts: wedge's one process, nginx's master + workers."""
        return process_tree(self.proc.pid) if self.kind == "nginx" else [self.proc.pid]

    def cpu(self) -> float:
        return cpu_seconds(self.pids())

    def _memory_pids(self) -> list[int]:
        """wedge's process, or nginx's workers (the master holds no connections)."""
        pids = self.pids()
        return pids[1:] if self.kind == "nginx" and len(pids) > 1 else pids

    def peak_rss_mb(self) -> float:
        """VmHWM: wedge's process, or the sum over nginx's workers."""
        return sum(status_kb(p, "VmHWM") for p in self._memory_pids()) / 1024

    def rss_mb(self) -> float:
        return sum(status_kb(p, "VmRSS") for p in self._memory_pids()) / 1024


def start_nginx(name: str, conf: Path, prefix: Path, port: int, cpus: str | None) -> Server:
    """Start an nginx master (in the foreground) on a rendered config; wait until it listens."""
    return Server(name, spawn_nginx(name, conf, prefix, [port], cpus), port, "nginx")


def start_origin(workdir: Path, cpus: str | None) -> Server:
    """The shared origin: nginx serving a static 1 KiB file over plain HTTP."""
    prefix = workdir / "origin"
    docroot = prefix / "www"
    docroot.mkdir(parents=True)
    (docroot / BENCH_PATH.lstrip("/")).write_bytes(
        (b"<!doctype html><title>wedge bench</title>\n" + b"x" * 1024)[:1023] + b"\n")
    port = free_port()
    conf = render(HERE / "nginx_origin.conf.tmpl", prefix / "nginx.conf",
                  PREFIX=prefix, PORT=port, DOCROOT=docroot)
    return start_nginx("origin", conf, prefix, port, cpus)


def start_nginx_contender(workdir: Path, scenario: Scenario, cert: tuple[Path, Path],
                          origin: Server, cpus: str | None) -> Server:
    """nginx terminating TLS and proxying to the origin, with or without the User-Agent map."""
    prefix = workdir / f"nginx-{scenario.name}"
    prefix.mkdir()
    port = free_port()
    device_map = f"include {HERE / 'nginx_device_map.conf'};" if scenario.functions else ""
    headers = "\n            ".join(f"proxy_set_header {h} {v};" for h, v in DEVICE_HEADERS.items())
    cache_zone = cache_location = ""
    if scenario.cache:
        (prefix / "cache").mkdir()
        cache_zone = (f"proxy_cache_path {prefix / 'cache'} levels=1:2 keys_zone=edge:10m "
                      "max_size=256m inactive=60m use_temp_path=off;")
        cache_location = "\n            ".join([
            "proxy_cache edge;",
            'proxy_cache_key "$host$request_uri|$device_class";',
            "proxy_cache_lock on;",
            "add_header X-Cache-Status $upstream_cache_status always;",
            *(f"add_header {h} {v} always;" for h, v in SECURITY_HEADERS.items()),
        ])
    conf = render(HERE / "nginx_proxy.conf.tmpl", prefix / "nginx.conf",
                  PREFIX=prefix, PORT=port, ORIGIN_PORT=origin.port, CERT=cert[0], KEY=cert[1],
                  DEVICE_MAP=device_map, DEVICE_HEADERS=headers if scenario.functions else "",
                  CACHE_ZONE=cache_zone, CACHE_LOCATION=cache_location)
    return start_nginx("nginx", conf, prefix, port, cpus)


def start_wedge(workdir: Path, scenario: Scenario, cert: tuple[Path, Path], origin: Server,
                args: argparse.Namespace) -> Server:
    """wedge serving a rendered config; ready when its admin /healthz answers."""
    prefix = workdir / f"wedge-{scenario.name}"
    prefix.mkdir()
    port, admin = free_port(), free_port()
    functions: list[str] = []
    if scenario.cache:
        functions = ["device-class", "cache-key", "security-headers"]
    elif scenario.waf:
        functions = ["waf", "device-class"]
    elif scenario.functions:
        functions = ["device-class"]
    conf = wedge_config(prefix / "wedge.toml", port, admin, origin.port, cert,
                        args.device_class_wasm.resolve(), functions, scenario.cache)
    env = {**os.environ, "WEDGE_LOG": "warn"}
    argv = [str(args.wedge_bin.resolve()), "serve", "--config", str(conf)]
    proc = CHILDREN.spawn(pinned(argv, args.server_cpus),
                          log=prefix / "stderr.log", env=env)

    wait_for(lambda: admin_healthy(admin), "wedge", proc, prefix / "stderr.log")
    return Server("wedge", proc, port, "wedge")


def wedge_config(dest: Path, port: int, admin_port: int, origin_port: int,
                 cert: tuple[Path, Path], device_class_wasm: Path, functions: list[str],
                 cache: bool) -> Path:
    """wedge.toml.tmpl rendered to dest: HTTPS on port in front of the origin, running
    `functions` on the site's behavior. The other functions' modules are looked for beside
    device_class_wasm."""
    functions_dir = device_class_wasm.parent
    return render(HERE / "wedge.toml.tmpl", dest,
                  PORT=port, ADMIN_PORT=admin_port, ORIGIN_PORT=origin_port, CERT=cert[0],
                  KEY=cert[1], DEVICE_CLASS_WASM=device_class_wasm,
                  CACHE_KEY_WASM=functions_dir / CACHE_KEY_WASM.name,
                  SECURITY_HEADERS_WASM=functions_dir / SECURITY_HEADERS_WASM.name,
                  WAF_WASM=functions_dir / WAF_WASM.name,
                  FUNCTIONS="[" + ", ".join(f'"{f}"' for f in functions) + "]",
                  CACHE_POLICY='cache_policy = "bench"' if cache else "")


def floor_argv(floor_bin: Path, port: int, cert: tuple[Path, Path], origin_port: int) -> list[str]:
    """How to start the bare-stack proxy (benches/src/bin/floor-proxy.rs)."""
    return [str(floor_bin), f"127.0.0.1:{port}", str(cert[0]), str(cert[1]),
            f"127.0.0.1:{origin_port}"]


def start_floor(workdir: Path, cert: tuple[Path, Path], origin: Server,
                cpus: str | None) -> Server:
    """The bare-stack proxy (benches/src/bin/floor-proxy.rs) in front of the same origin."""
    port = free_port()
    log = workdir / "floor.log"
    argv = floor_argv(FLOOR_BIN, port, cert, origin.port)
    proc = CHILDREN.spawn(pinned(argv, cpus), log=log)

    def listening() -> bool:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True

    wait_for(listening, "floor-proxy", proc, log)
    return Server("floor", proc, port, "floor")


# --------------------------------------------------------------------------- checks


def https_get(port: int, path: str, headers: dict | None = None) -> tuple[int, str]:
    """GET over HTTPS (certificate not verified) with the bench Host and User-Agent; with
    headers, the response headers wanted are stored into it (lower-case names)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=5)
    try:
        conn.request("GET", path, headers={"Host": HOST, "User-Agent": MOBILE_UA})
        resp = conn.getresponse()
        if headers is not None:
            headers.update({k.lower(): v for k, v in resp.getheaders()})
        return resp.status, resp.read().decode(errors="replace").strip()
    finally:
        conn.close()


def verify(server: Server, scenario: Scenario) -> None:
    """One request through the contender must answer 200, and the origin must see the device
    headers exactly when the scenario classifies (the origin's /__device echoes them)."""
    status, _ = https_get(server.port, BENCH_PATH)
    if status != 200:
        raise RuntimeError(f"{scenario.name}/{server.name}: GET {BENCH_PATH} answered {status}")
    if scenario.cache:
        # Second request: a hit, with the security headers on it.
        seen: dict = {}
        https_get(server.port, BENCH_PATH, seen)
        hit = seen.get("x-cache", "").startswith("Hit") or seen.get("x-cache-status") == "HIT"
        if not hit or seen.get("x-frame-options") != "SAMEORIGIN":
            raise RuntimeError(f"{scenario.name}/{server.name}: second GET was not a hit with "
                               f"security headers: {seen}")
    status, echo = https_get(server.port, "/__device")
    expected = EXPECTED_DEVICE_ECHO if scenario.functions else ""
    if status != 200 or echo != expected:
        raise RuntimeError(f"{scenario.name}/{server.name}: origin saw device headers "
                           f"{echo!r}, expected {expected!r} (status {status})")


# --------------------------------------------------------------------------- load generation


def wrk(port: int, duration: int, args: argparse.Namespace, unique: str = "") -> dict:
    """wrk -t2 -c64 over HTTPS keep-alive; `unique` makes every User-Agent ("user-agent"),
    query string ("query": a cache-buster token) or search text ("search") a new one."""
    argv = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{duration}s", "--latency",
            "-H", f"Host: {HOST}", "-H", f"User-Agent: {MOBILE_UA}"]
    if unique:
        argv += ["-s", str(HERE / "unique.lua")]
    argv.append(f"https://127.0.0.1:{port}{BENCH_PATH}")
    if unique:
        argv += ["--", unique, MOBILE_UA]
    return parse_wrk(run_tool(pinned(argv, args.loadgen_cpus), duration + 30))


def h2load(port: int, duration: int, args: argparse.Namespace, log: Path,
           extra: list[str] | None = None) -> dict:
    """h2load -c64 -m10 over HTTP/2 (or extra's options); latency percentiles from its
    per-request log."""
    argv = ["h2load", f"-t{args.threads}", f"-c{args.connections}", f"-D{duration}",
            *(extra if extra is not None else ["-m10"]),
            "-H", f":authority: {HOST}", "-H", f"user-agent: {MOBILE_UA}",
            f"--log-file={log}", f"https://127.0.0.1:{port}{BENCH_PATH}"]
    out = run_tool(pinned(argv, args.loadgen_cpus), duration + 30)
    req = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                    r"(\d+) failed, (\d+) errored, (\d+) timeout", out)
    codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    latencies = sorted(int(line.split("\t")[2]) for line in log.read_text().splitlines() if line)
    log.unlink()
    done = int(req.group(3))
    # Failed, errored and timed-out streams, and answers other than 2xx. (Not "done minus
    # 2xx": with -D, h2load's status counts may include a few streams that finished as the
    # time ran out, which made that difference negative.)
    non_2xx = sum(map(int, codes.group(2, 3, 4)))
    return {
        "requests": done,
        "rps": float(re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out).group(1)),
        "p50_ms": percentile(latencies, 50) / 1000,
        "p99_ms": percentile(latencies, 99) / 1000,
        "errors": sum(map(int, req.group(5, 6, 7))) + non_2xx,
    }


def fresh_handshakes(port: int, duration: int, args: argparse.Namespace) -> dict:
    """Full TLS handshakes for `duration` seconds: batches of one-shot h2load clients.

    Each client opens its own connection with a fresh TLS session, sends one HTTP/1.1 request and
    closes. (wrk and h2load reuse the TLS session when one client reconnects, so `Connection:
    close` would measure resumption wherever the server offers it: rustls does by default, our
    nginx config does not.) Two batches of `--connections` clients overlap so the server never
    waits for a load generator process to start. Latency is not comparable here and is left out;
    the mean time to first byte (connect + handshake + request) is kept.
    """
    argv = pinned(["h2load", "--h1", "-t1", f"-c{args.connections}", f"-n{args.connections}",
                   "-H", f":authority: {HOST}", "-H", f"user-agent: {MOBILE_UA}",
                   f"https://127.0.0.1:{port}{BENCH_PATH}"], args.loadgen_cpus)
    start = time.monotonic()
    deadline = start + duration
    running: list[subprocess.Popen] = []
    done = errors = 0
    ttfb_ms: list[float] = []
    while running or time.monotonic() < deadline:
        while len(running) < 2 and time.monotonic() < deadline:
            running.append(CHILDREN.spawn(argv, capture=True, tie=False))
        proc = running.pop(0)
        out, err = proc.communicate(timeout=60)
        CHILDREN.stop(proc)
        req = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded, "
                        r"(\d+) failed, (\d+) errored, (\d+) timeout", out)
        codes = re.search(r"status codes: (\d+) 2xx", out)
        if not req or not codes:
            raise RuntimeError(f"h2load failed ({proc.returncode}): {err.strip()[:500]}")
        ok = int(codes.group(1))
        done += ok
        errors += sum(map(int, req.group(3, 4, 5))) + int(req.group(1)) - ok
        ttfb = re.search(r"time to 1st byte:\s+\S+\s+\S+\s+(\S+)", out)
        if ttfb:
            ttfb_ms.append(parse_duration_ms(ttfb.group(1)))
    elapsed = time.monotonic() - start
    return {"requests": done, "rps": done / elapsed, "p50_ms": None, "p99_ms": None,
            "errors": errors, "ttfb_mean_ms": statistics.fmean(ttfb_ms) if ttfb_ms else None}


def half_shape(scenario: Scenario) -> list[str]:
    return ["--h1", "-m1"] if scenario.load == "half-h1" else ["-m10"]


def probe_peak(server: Server, scenario: Scenario, args: argparse.Namespace,
               workdir: Path) -> float:
    """A 5 s unpaced h2load run: the contender's peak req/s in this scenario's shape."""
    return h2load(server.port, 5, args, workdir / "h2load.log", half_shape(scenario))["rps"]


def half_load(server: Server, scenario: Scenario, duration: int, args: argparse.Namespace,
              workdir: Path, peak: float) -> dict:
    """Latency at half of the contender's own peak: h2load paces every client so that
    together they send half of it."""
    log = workdir / "h2load.log"
    shape = half_shape(scenario)
    per_client = max(peak / 2 / args.connections, 1.0)
    result = h2load(server.port, duration, args, log, [*shape, f"--rps={per_client:.2f}"])
    result["peak_rps"] = peak
    print(f"   {server.name}: peak {peak:.0f} req/s, paced at {per_client * args.connections:.0f}"
          f" req/s; p99/p50 = {result['p99_ms'] / max(result['p50_ms'], 1e-9):.2f}", flush=True)
    return result


def percentile(sorted_values: list[int], pct: float) -> float:
    """Nearest-rank percentile of an already sorted list (0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(0, min(len(sorted_values) - 1, round(pct / 100 * len(sorted_values)) - 1))
    return float(sorted_values[rank])


def drive(server: Server, scenario: Scenario, duration: int, args: argparse.Namespace,
          workdir: Path, peak: float | None = None) -> dict:
    """Run the scenario's load generator against one contender."""
    if scenario.load == "h2load":
        return h2load(server.port, duration, args, workdir / "h2load.log")
    if scenario.load == "fresh":
        return fresh_handshakes(server.port, duration, args)
    if scenario.load in ("half-h1", "half-h2"):
        return half_load(server, scenario, duration, args, workdir, peak or 0.0)
    return wrk(server.port, duration, args, scenario.unique)


def measure(server: Server, origin: Server, scenario: Scenario, rnd: int,
            args: argparse.Namespace, workdir: Path) -> RunResult:
    """One measured run: load figures plus the server's CPU delta and peak RSS."""
    load1 = os.getloadavg()[0]
    # The peak probe of the half-load scenarios is not part of the measured run.
    peak = probe_peak(server, scenario, args, workdir) if scenario.load.startswith("half") else None
    cpu0, origin0 = server.cpu(), origin.cpu()
    load = drive(server, scenario, scenario.duration or args.duration, args, workdir, peak)
    cpu, origin_cpu = server.cpu() - cpu0, origin.cpu() - origin0
    n = max(load["requests"], 1)
    return RunResult(scenario=scenario.name, contender=server.name, round=rnd, rps=load["rps"],
                     requests=load["requests"], p50_ms=load["p50_ms"], p99_ms=load["p99_ms"],
                     errors=load["errors"], cpu_s=cpu, cpu_us_per_req=cpu / n * 1e6,
                     peak_rss_mb=server.peak_rss_mb(), origin_cpu_us_per_req=origin_cpu / n * 1e6,
                     loadavg_1m=load1, ttfb_mean_ms=load.get("ttfb_mean_ms"))


# --------------------------------------------------------------------------- reporting


RUN_HEADER = (f"{'scenario':<19}{'contender':<8}{'rnd':>4}{'req/s':>10}{'p50 ms':>8}{'p99 ms':>8}"
              f"{'errors':>8}{'CPU s':>8}{'CPU µs/req':>11}{'peak RSS MB':>12}{'origin µs/req':>14}"
              f"{'load1':>6}")


def fmt_ms(x: float | None) -> str:
    return f"{x:.2f}" if x is not None else "-"


def format_run(r: RunResult) -> str:
    return (f"{r.scenario:<19}{r.contender:<8}{r.round:>4}{r.rps:>10.0f}{fmt_ms(r.p50_ms):>8}"
            f"{fmt_ms(r.p99_ms):>8}{r.errors:>8}{r.cpu_s:>8.2f}{r.cpu_us_per_req:>11.1f}"
            f"{r.peak_rss_mb:>12.1f}{r.origin_cpu_us_per_req:>14.1f}{r.loadavg_1m:>6.2f}")


def medians(runs: list[RunResult]) -> dict[tuple[str, str], dict]:
    """Median of each figure per (scenario, contender)."""
    groups: dict[tuple[str, str], list[RunResult]] = {}
    for r in runs:
        groups.setdefault((r.scenario, r.contender), []).append(r)
    keys = ["rps", "p50_ms", "p99_ms", "cpu_us_per_req", "peak_rss_mb"]
    out = {}
    for group, rs in groups.items():
        out[group] = {k: median_or_none([getattr(r, k) for r in rs]) for k in keys}
        out[group]["errors"] = sum(r.errors for r in rs)
        out[group]["runs"] = len(rs)
    return out


def median_or_none(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def fmt_ratio(x: float | None) -> str:
    return f"{x:.2f}x" if x is not None else "-"


def summary(runs: list[RunResult], skipped: dict[str, str]) -> tuple[str, dict]:
    """The summary table (medians, wedge/nginx per scenario, wedge proxy/ceiling) and its data."""
    med = medians(runs)
    scenarios = list(dict.fromkeys(r.scenario for r in runs))
    lines = [f"{'scenario':<19}{'contender':<8}{'req/s':>10}{'p50 ms':>8}{'p99 ms':>8}"
             f"{'errors':>8}{'CPU µs/req':>11}{'peak RSS MB':>12}   wedge/nginx: req/s  CPU/req"]
    data: dict = {"medians": {}, "ratios": {}}
    for name in scenarios:
        for who in ("wedge", "nginx", "floor"):
            m = med.get((name, who))
            if not m:
                continue
            data["medians"].setdefault(name, {})[who] = m
            line = (f"{name:<19}{who:<8}{m['rps']:>10.0f}{fmt_ms(m['p50_ms']):>8}"
                    f"{fmt_ms(m['p99_ms']):>8}"
                    f"{m['errors']:>8}{m['cpu_us_per_req']:>11.1f}{m['peak_rss_mb']:>12.1f}")
            if who == "nginx" and (name, "wedge") in med:
                w = med[(name, "wedge")]
                rps_r, cpu_r = ratio(w["rps"], m["rps"]), ratio(w["cpu_us_per_req"],
                                                                m["cpu_us_per_req"])
                data["ratios"][f"{name} wedge/nginx"] = {"rps": rps_r, "cpu_per_req": cpu_r}
                line += f"   {fmt_ratio(rps_r):>18} {fmt_ratio(cpu_r):>8}"
            if who == "floor" and (name, "wedge") in med:
                w = med[(name, "wedge")]
                rps_r = ratio(w["rps"], m["rps"])
                extra = w["cpu_us_per_req"] - m["cpu_us_per_req"]
                data["ratios"][f"{name} wedge/floor"] = {"rps": rps_r,
                                                        "cpu_us_per_req_added": extra}
                line += f"   wedge/floor {fmt_ratio(rps_r)}, wedge adds {extra:.1f} µs CPU/req"
            lines.append(line)
    # What functions add against the ceiling, and what the WAF adds against the same load
    # without it: repeated requests and new cache-busters (its verdict replayed), a new
    # User-Agent or search text on every request (it runs).
    pairs = [(who, name, "ceiling", "functions add", "")
             for name in ("proxy", "proxy-unique-ua", "proxy-unique-query", "cache")
             for who in ("wedge", "nginx")]
    pairs += [("wedge", f"waf{u}", f"proxy{base}", "the WAF adds", " (goal ≥ 0.90)")
              for u, base in (("", ""), ("-unique-ua", "-unique-ua"),
                              ("-unique-query", "-unique-query"),
                              ("-unique-search", "-unique-query"))]
    for who, name, base, what, goal in pairs:
        m, b = med.get((name, who)), med.get((base, who))
        if m and b:
            r = ratio(m["rps"], b["rps"])
            extra = m["cpu_us_per_req"] - b["cpu_us_per_req"]
            data["ratios"][f"{who} {name}/{base}"] = {"rps": r, "cpu_us_per_req_added": extra}
            lines.append(f"{who} {name}/{base}: req/s {fmt_ratio(r)}{goal}, {what} "
                         f"{extra:.1f} µs CPU/request")
    for name in ("half-h1", "half-h2"):
        for who in ("wedge", "nginx"):
            m = med.get((name, who))
            if m and m["p50_ms"]:
                r = m["p99_ms"] / m["p50_ms"]
                data["ratios"][f"{who} {name} p99/p50"] = r
                lines.append(f"{who} {name}: p99/p50 {r:.2f} (budget ≤ 3), errors {m['errors']}")
    for name, why in skipped.items():
        lines.append(f"{name:<19}skipped ({why})")
    return "\n".join(lines), data


def machine_header(args: argparse.Namespace) -> str:
    """Where and how the numbers were taken."""
    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                if l.startswith("model name")), platform.processor())
    nginx_v = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip()
    wrk_v = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("\n")[0]
    rev = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"],
                         capture_output=True, text=True).stdout.strip()
    wedge = f"wedge {rev}"
    if args.wedge_bin.resolve() != WEDGE_BIN or args.device_class_wasm.resolve() != DEVICE_CLASS_WASM:
        wedge = f"wedge {args.wedge_bin} + {args.device_class_wasm.name} (not the tree at {rev})"
    if args.pin == "split":
        pin = (f"pinned: servers (contender + origin) on CPU {SERVER_CPUS}, "
               f"load generator on CPU {LOADGEN_CPUS}")
    else:
        pin = "not pinned: the kernel schedules everything over both cores"
    return "\n".join([
        f"machine: {os.cpu_count()} cores ({cpu}), {platform.platform()}",
        f"NOTE: the load generator, the servers and the origin share the same {os.cpu_count()} "
        f"cores; {pin}.",
        f"load: wrk -t{args.threads} -c{args.connections} -d{args.duration}s (HTTPS, mobile UA), "
        f"h2load -c{args.connections} -m10; {args.rounds} rounds, alternating wedge/nginx; "
        f"{args.warmup}s warm-up each",
        f"servers: {wedge} (release, 2 tokio workers) vs {nginx_v} (2 workers); "
        f"origin: nginx, 1 worker, static 1 KiB over HTTP keep-alive; {wrk_v}",
        f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
        "(other work on the machine makes the figures noisier)",
    ])


# --------------------------------------------------------------------------- orchestration


def selected_scenarios(spec: str) -> list[Scenario]:
    """Scenario names from a comma list; 'handshake' means both certificate kinds."""
    names: list[str] = []
    for item in filter(None, (s.strip() for s in spec.split(","))):
        for name in ALIASES.get(item, [item]):
            if name not in SCENARIOS:
                raise SystemExit(f"unknown scenario {name!r}; known: "
                                 f"{', '.join([*SCENARIOS, *ALIASES])}")
            names.append(name)
    return [SCENARIOS[n] for n in dict.fromkeys(names)]


def origin_capacity(origin: Server, args: argparse.Namespace) -> str:
    """A short wrk run straight at the origin, to show it is not the bottleneck."""
    argv = ["wrk", f"-t{args.threads}", f"-c{args.connections}", "-d3s",
            f"http://127.0.0.1:{origin.port}{BENCH_PATH}"]
    cpu0 = origin.cpu()
    out = run_tool(pinned(argv, args.loadgen_cpus), 40)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    n = int(re.search(r"(\d+) requests in", out).group(1))
    return (f"origin alone (plain HTTP keep-alive, 3 s): {rps:.0f} req/s, "
            f"{(origin.cpu() - cpu0) / max(n, 1) * 1e6:.1f} µs CPU/request")


def run_scenario(scenario: Scenario, origin: Server, certs: dict, args: argparse.Namespace,
                 workdir: Path) -> list[RunResult]:
    """Start both contenders, verify them, warm them up, then alternate measured runs."""
    cert = certs[scenario.cert]
    servers = [start_wedge(workdir, scenario, cert, origin, args)]
    # nginx in the waf scenario would be the proxy scenario's nginx again: its baseline
    # is wedge's own proxy figure (nginx + ModSecurity: benches/waf/modsec_compare.py).
    if scenario.peer == "floor":
        servers.append(start_floor(workdir, cert, origin, args.server_cpus))
    elif not scenario.waf:
        servers.append(start_nginx_contender(workdir, scenario, cert, origin, args.server_cpus))
    results = []
    try:
        print(f"\n== {scenario.name}: {scenario.description}")
        for s in servers:
            verify(s, scenario)
        print(f"   verified: 200 through {' and '.join(s.name for s in servers)}"
              + (f", origin saw '{EXPECTED_DEVICE_ECHO}'" if scenario.functions else "")
              + "; idle RSS " + ", ".join(f"{s.name} {s.rss_mb():.1f} MB" for s in servers))
        if args.warmup and not scenario.load.startswith("half"):
            for s in servers:
                drive(s, scenario, args.warmup, args, workdir)
        for rnd in range(1, (scenario.rounds or args.rounds) + 1):
            for s in servers:
                r = measure(s, origin, scenario, rnd, args, workdir)
                print(format_run(r), flush=True)
                results.append(r)
    finally:
        for s in servers:
            CHILDREN.stop(s.proc)
    return results


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=int, default=10, help="seconds per measured run")
    p.add_argument("--rounds", type=int, default=3, help="measured runs per contender")
    p.add_argument("--warmup", type=int, default=2, help="seconds of unmeasured load first")
    p.add_argument("--scenarios", default=DEFAULT_SCENARIOS,
                   help=f"comma list of {', '.join([*SCENARIOS, *ALIASES])} "
                        f"(default {DEFAULT_SCENARIOS})")
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--pin", choices=["split", "off"], default="split",
                   help=f"split (default, much steadier): servers on CPU {SERVER_CPUS}, load "
                        f"generator on CPU {LOADGEN_CPUS}; off: no pinning")
    p.add_argument("--no-build", action="store_true", help="use the binaries already built")
    p.add_argument("--wedge-bin", type=Path, default=WEDGE_BIN,
                   help="wedge binary to measure (default: the release build)")
    p.add_argument("--device-class-wasm", type=Path, default=DEVICE_CLASS_WASM,
                   help="device-class component (default: the functions release build)")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (configs, logs)")
    p.add_argument("--json", type=Path, help="also write every run and the summary here")
    args = p.parse_args()
    split = args.pin == "split" and (os.cpu_count() or 1) >= 2
    args.server_cpus = SERVER_CPUS if split else None
    args.loadgen_cpus = LOADGEN_CPUS if split else None
    return args


def write_json(path: Path, args: argparse.Namespace, header: str, runs: list[RunResult],
               data: dict, skipped: dict[str, str]) -> None:
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    doc = {"header": header.splitlines(), "settings": settings,
           "runs": [asdict(r) for r in runs], "skipped": skipped, **data}
    path.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"\nwrote {path}")


def main() -> int:
    args = parse_args()
    scenarios = selected_scenarios(args.scenarios)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        ensure_packages()
        if not args.no_build:
            build()
    except (subprocess.CalledProcessError, RuntimeError) as e:
        print(f"error: {e} (use --no-build to measure the binaries already built)",
              file=sys.stderr)
        return 1
    workdir = Path(tempfile.mkdtemp(prefix="wedge-load-"))
    workdir.chmod(0o755)  # nginx workers run as nobody and must read the docroot
    def body() -> int:
        header = machine_header(args)
        print("\n" + header)
        certs = make_certs(workdir)
        origin = start_origin(workdir, args.server_cpus)
        print(origin_capacity(origin, args))
        runs: list[RunResult] = []
        skipped = {s.name: s.skip for s in scenarios if s.skip}
        print("\n" + RUN_HEADER)
        for scenario in scenarios:
            if not scenario.skip:
                runs += run_scenario(scenario, origin, certs, args, workdir)
        table, data = summary(runs, skipped)
        print(f"\n== summary (medians of {args.rounds} runs; handshake rows: req/s = new TLS "
              "handshakes/s, CPU µs/req = per handshake incl. one proxied request; no latency)")
        print(header.splitlines()[1])
        print(table)
        if args.json:
            write_json(args.json, args, header, runs, data, skipped)
        return 0

    return run_main(body, workdir, args.keep)


if __name__ == "__main__":
    sys.exit(main())
