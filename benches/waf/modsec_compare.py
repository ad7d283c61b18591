#!/usr/bin/env python3
"""Side-by-side WAF comparison: wedge's managed rule set vs nginx + ModSecurity + OWASP CRS (PL1).

Replays exactly the requests of the corpus test (functions/waf-rules/tests/corpus.rs: the
payloads of ../shared/corpora/waf_payloads.jsonl, the CRS v4 paranoia-level-1 rows of families
913, 930-933, 941, 942, and its generated ordinary requests) through nginx with ModSecurity in
blocking mode, and prints per-family detection and false-positive rates next to wedge's, taken
from the same dump (the test evaluates wedge natively through the ACL code the component runs).

    python3 benches/waf/modsec_compare.py [--cases FILE] [--wedge] [--load] [--json out.json]

The test writes the cases with WAF_EVAL_DUMP=<file>; --cases replays a dump made earlier.
Every case goes over plain HTTP/1.1 on a raw socket (method, URI, headers and body bytes exactly
as dumped, Content-Length added to bodies that lack it), once to a ModSecurity server and once to
an identical server without it; blocked means 403. A request the server without ModSecurity does
not answer 200 was refused by nginx itself and is counted apart. --wedge also replays every case
through a running wedge (HTTP listener, the WAF component with managed = "block",
inspect_body_kb = 8) to check it agrees with the native figures. --load measures nginx's proxy
throughput with ModSecurity on vs off (wrk, plain HTTP keep-alive, alternating runs) with two
benign requests: a browser-like page view and a bare GET /.

Python 3.11 standard library only. Runs as root on Debian: installs nginx,
libnginx-mod-http-modsecurity, modsecurity-crs (and wrk with --load) with apt-get when missing,
runs cargo for the dump (and, with --wedge, to build wedge and the waf component unless
--no-build), starts every server on free ports in a temp dir and stops them all on exit.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchlib import (CHILDREN, FUNCTIONS_TARGET, REPO, WEDGE_BIN,  # noqa: E402
                      admin_healthy, cargo_build,
                      cpu_seconds, free_port, install_missing, parse_wrk, pinned, process_tree,
                      render, run_main, run_tool, spawn_nginx, wait_for)

HERE = Path(__file__).resolve().parent
WAF_WASM = FUNCTIONS_TARGET / "wasm32-wasip2/release/waf.wasm"

MODSEC_MODULE = Path("/usr/lib/nginx/modules/ngx_http_modsecurity_module.so")
MODSEC_BASE = Path("/etc/nginx/modsecurity.conf")  # Debian's recommended base config
CRS_RULES = Path("/usr/share/modsecurity-crs/rules")
# package -> a file that shows it is installed
PACKAGES = {"nginx": Path("/usr/sbin/nginx"), "libnginx-mod-http-modsecurity": MODSEC_MODULE,
            "modsecurity-crs": CRS_RULES / "REQUEST-949-BLOCKING-EVALUATION.conf"}
LOAD_PACKAGES = {"wrk": Path("/usr/bin/wrk"), "util-linux": Path("/usr/bin/taskset")}

# The benign requests of the load test. "browser": one of the corpus test's generated ordinary
# requests (3 query arguments, 3 cookies, a referer with its own query: what a page view sends);
# "bare": GET / with only a Host header, the least ModSecurity can be asked to inspect.
LOAD_PATH = "/products/shoes/running?q=running%20shoes&page=2&utm_source=newsletter"
LOAD_HEADERS = {
    "Host": "api.localhost",
    "User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
                  "(KHTML, like Gecko) Chrome/124.0 Safari/537.36",
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "Accept-Language": "en-GB,en;q=0.9,de;q=0.8",
    "Accept-Encoding": "gzip, deflate, br",
    "Cookie": "_ga=GA1.2.1001.1700000000; session=eyJ1c2VyIjo0Mn0.1; theme=dark",
    "Referer": "https://www.example.com/products/shoes/running?from=nav&q=running%20shoes",
}
LOAD_REQUESTS = {"browser": (LOAD_PATH, LOAD_HEADERS), "bare": ("/", {"Host": "api.localhost"})}
# Known attack and benign requests that must be answered 403 / 200 before anything is measured.
PROBE_ATTACK = "/search?q=1%27%20OR%20%271%27%3D%271"

AUDIT_LOG = "modsec_audit.log"
# CRS rules that only add up or report scores: not the reason a request was refused.
SCORE_RULES = {"949110", "959100", "980130", "980140"}

SERVER_CPUS = "0"
LOADGEN_CPUS = "1"

# Table rows: (label, predicate on a case's group); attack rows then benign rows.
ATTACK_ROWS = [
    ("payloads: SQL injection", lambda g: g == "payloads:sqli"),
    ("payloads: XSS", lambda g: g == "payloads:xss"),
    ("payloads: traversal", lambda g: g == "payloads:traversal"),
    ("CRS 913 scanners", lambda g: g == "crs:913"),
    ("CRS 930 LFI", lambda g: g == "crs:930"),
    ("CRS 931 RFI", lambda g: g == "crs:931"),
    ("CRS 932 RCE", lambda g: g == "crs:932"),
    ("CRS 933 PHP", lambda g: g == "crs:933"),
    ("CRS 941 XSS", lambda g: g == "crs:941"),
    ("CRS 942 SQLi", lambda g: g == "crs:942"),
    ("CRS v4 PL1 rows", lambda g: g.startswith("crs:")),
    ("all attack rows", lambda g: True),
]
BENIGN_ROWS = [
    ("generated ordinary requests", lambda g: g == "generated:benign"),
    ("hard negatives (payloads benign)", lambda g: g == "payloads:benign-hard"),
    ("CRS rows marked not-to-detect", lambda g: g.startswith("crs:")),
    ("all benign rows", lambda g: True),
]


# --------------------------------------------------------------------------- setup


def ensure_packages(load: bool) -> None:
    """apt-get install whatever is missing of nginx, the ModSecurity module and the CRS."""
    wanted = {**PACKAGES, **(LOAD_PACKAGES if load else {})}
    install_missing(sorted(pkg for pkg, path in wanted.items() if not path.exists()))


def package_version(pkg: str) -> str:
    out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True,
                         text=True)
    return out.stdout.strip() or "?"


def dump_cases(dest: Path) -> None:
    """Run the corpus test with WAF_EVAL_DUMP: the cases and wedge's native verdicts."""
    print("running the corpus test (native, release) to dump the cases ...", flush=True)
    argv = ["cargo", "test", "--manifest-path", "functions/Cargo.toml", "-p", "waf-rules",
            "--release", "--locked", "--test", "corpus", "--", "--nocapture"]
    env = {**os.environ, "WAF_EVAL_DUMP": str(dest)}
    out = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True)
    if out.returncode != 0 or not dest.exists():
        raise RuntimeError(f"corpus test failed or wrote no dump (exit {out.returncode}):\n"
                           f"{out.stdout[-2000:]}\n{out.stderr[-2000:]}")


def build_wedge() -> None:
    """Release builds of wedge and of the waf component."""
    cargo_build(["waf"])


def modsec_base_conf(dest: Path, workdir: Path, response_body: str = "debian") -> Path:
    """Debian's recommended ModSecurity base config with the engine on (blocking) and every
    path it writes moved into the temp dir; otherwise as Debian ships it, which is already a
    production one: no debug log (SecDebugLog is commented out), audit log RelevantOnly (only
    4xx/5xx answers other than 404, Serial; it names the rules behind each refusal and stays
    empty during the load test, which checks that), response body access On for text/plain,
    text/html and text/xml. response_body="off" turns that last one off."""
    text = MODSEC_BASE.read_text()
    if re.search(r"^\s*SecDebugLog", text, re.M):
        raise RuntimeError(f"{MODSEC_BASE}: a debug log is configured; this script expects none")
    subs = [
        (r"^SecRuleEngine\s+\S+", "SecRuleEngine On"),
        (r"^SecAuditLog\s+\S+", f"SecAuditLog {workdir / AUDIT_LOG}"),
        (r"^SecTmpDir\s+\S+", f"SecTmpDir {workdir}/"),
        (r"^SecDataDir\s+\S+", f"SecDataDir {workdir}/"),
        (r"^SecUnicodeMapFile\s+\S+",
         f"SecUnicodeMapFile {MODSEC_BASE.parent / 'unicode.mapping'}"),
        (r"^SecStatusEngine\s+\S+", "SecStatusEngine Off"),
    ]
    if response_body == "off":
        subs.append((r"^SecResponseBodyAccess\s+\S+", "SecResponseBodyAccess Off"))
    for pattern, repl in subs:
        text, n = re.subn(pattern, repl, text, count=1, flags=re.M)
        if n != 1:
            raise RuntimeError(f"{MODSEC_BASE}: no line matching {pattern!r}")
    dest.write_text(text)
    return dest


# --------------------------------------------------------------------------- servers


@dataclass
class Nginx:
    proc: subprocess.Popen
    prefix: Path

    def cpu(self) -> float:
        return cpu_seconds(process_tree(self.proc.pid))


def start_nginx(name: str, conf: Path, prefix: Path, ports: list[int], cpus: str | None) -> Nginx:
    # ModSecurity loads the CRS at start-up: give it longer than a bare nginx.
    return Nginx(spawn_nginx(name, conf, prefix, ports, cpus, timeout=60), prefix)


def start_origin(workdir: Path, cpus: str | None) -> tuple[Nginx, int]:
    prefix = workdir / "origin"
    prefix.mkdir()
    port = free_port()
    conf = render(HERE / "nginx_origin.conf.tmpl", prefix / "nginx.conf", PREFIX=prefix, PORT=port)
    return start_nginx("origin", conf, prefix, [port], cpus), port


def start_front(workdir: Path, origin_port: int, cpus: str | None, args) -> tuple[Nginx, int, int]:
    """nginx with a ModSecurity server and an otherwise identical server without it."""
    prefix = workdir / "front"
    prefix.mkdir()
    base = modsec_base_conf(prefix / "modsecurity.conf", prefix, args.response_body)
    main = render(HERE / "modsec_main.conf.tmpl", prefix / "modsec_main.conf", BASE_CONF=base)
    waf_port, plain_port = free_port(), free_port()
    conf = render(HERE / "nginx_modsec.conf.tmpl", prefix / "nginx.conf", PREFIX=prefix,
                  WAF_PORT=waf_port, PLAIN_PORT=plain_port, ORIGIN_PORT=origin_port,
                  MODSEC_MAIN=main)
    return start_nginx("nginx+modsecurity", conf, prefix, [waf_port, plain_port], cpus), \
        waf_port, plain_port


def start_wedge(workdir: Path, origin_port: int, args) -> int:
    """wedge serving the waf component in front of the origin; returns its port."""
    prefix = workdir / "wedge"
    prefix.mkdir()
    port, admin = free_port(), free_port()
    conf = render(HERE / "wedge_waf.toml.tmpl", prefix / "wedge.toml", PORT=port, ADMIN_PORT=admin,
                  ORIGIN_PORT=origin_port, WAF_WASM=args.waf_wasm.resolve())
    env = {**os.environ, "WEDGE_LOG": "error"}
    proc = CHILDREN.spawn([str(args.wedge_bin.resolve()), "serve", "--config", str(conf)],
                          log=prefix / "stderr.log", env=env)

    wait_for(lambda: admin_healthy(admin), "wedge", proc, prefix / "stderr.log", timeout=120)
    return port


# --------------------------------------------------------------------------- replay


def request_bytes(case: dict) -> bytes:
    """The request exactly as dumped: request line, headers in order, body; Content-Length
    added to a body that has none (as the CRS test runner does)."""
    lines = [f"{case['method']} {case['uri']} HTTP/1.1"]
    names = set()
    for name, value in case["headers"]:
        lines.append(f"{name}: {value}")
        names.add(name.lower())
    body = case["body"].encode() if case.get("body") is not None else b""
    if case.get("body") is not None and "content-length" not in names \
            and "transfer-encoding" not in names:
        lines.append(f"content-length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def send(port: int, raw: bytes, timeout: float) -> tuple[int | str, int]:
    """Send one request on a fresh connection: the response's status code (or why none came)
    and the connection's local port (which ModSecurity's audit log records)."""
    local = 0
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            local = s.getsockname()[1]
            s.sendall(raw)
            return read_status(s), local
    except socket.timeout:
        return "timeout", local
    except OSError as e:
        return f"error:{e.__class__.__name__}", local


def read_status(s: socket.socket) -> int | str:
    """The status code of the response on s (only its status line is read)."""
    buf = b""
    while b"\r\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            return "closed" if not buf else f"bad:{buf[:30]!r}"
        buf += chunk
    m = re.match(rb"HTTP/1\.[01] (\d{3})", buf)
    return int(m.group(1)) if m else f"bad:{buf[:30]!r}"


def audit_rules(log: Path, cases: list[dict]) -> None:
    """case['modsec_rules']: the rules ModSecurity's audit log names for each case it did
    not answer 200, matched by the client port of the connection (section A), in order."""
    by_port: dict[int, list[dict]] = {}
    for c in cases:
        c["modsec_rules"] = []
        if c["status"]["modsec"] != 200:
            by_port.setdefault(c["local_port"]["modsec"], []).append(c)
    if not log.exists():
        return
    entry: dict[str, list[str]] = {}

    def flush() -> None:
        a = entry.get("A")
        if not a:
            return
        fields = a[0].split()
        port = int(fields[4]) if len(fields) > 4 and fields[4].isdigit() else -1
        queue = by_port.get(port)
        if queue:
            ids = re.findall(r'\[id "(\d+)"\]', "\n".join(entry.get("H", [])))
            queue.pop(0)["modsec_rules"] = sorted(set(ids) - SCORE_RULES)

    section = None
    for line in log.read_text(errors="replace").splitlines():
        m = re.fullmatch(r"---\w+---([A-Z])--", line)
        if m:
            section = m.group(1)
            if section == "A":
                entry = {}
            elif section == "Z":
                flush()
            entry.setdefault(section, [])
        elif section:
            entry[section].append(line)


def replay(cases: list[dict], targets: dict[str, int], jobs: int, timeout: float) -> None:
    """Send every case to every target; statuses land in case['status'][target]."""
    def one(case: dict) -> None:
        raw = request_bytes(case)
        sent = {name: send(port, raw, timeout) for name, port in targets.items()}
        case["status"] = {name: status for name, (status, _) in sent.items()}
        case["local_port"] = {name: local for name, (_, local) in sent.items()}

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        for i, _ in enumerate(pool.map(one, cases), 1):
            if i % 2000 == 0:
                print(f"   {i}/{len(cases)} replayed ({time.monotonic() - started:.0f} s)",
                      flush=True)
    print(f"   {len(cases)} cases replayed to {', '.join(targets)} in "
          f"{time.monotonic() - started:.0f} s", flush=True)


def check_probe(port: int, what: str) -> None:
    """The load test's benign requests answer 200, a known attack 403."""
    probes = [(path, headers, 200) for path, headers in LOAD_REQUESTS.values()]
    probes.append((PROBE_ATTACK, LOAD_HEADERS, 403))
    for uri, headers, want in probes:
        raw = request_bytes({"method": "GET", "uri": uri, "body": None,
                             "headers": [[k.lower(), v] for k, v in headers.items()]})
        got, _ = send(port, raw, 10)
        if got != want:
            raise RuntimeError(f"{what}: GET {uri} answered {got}, expected {want}")


# --------------------------------------------------------------------------- report


def rate(n: int, d: int) -> str:
    return f"{n / d:.3f}" if d else "-"


def pct(n: int, d: int) -> str:
    return f"{100 * n / d:.1f} %" if d else "-"


def figures(cases: list[dict], e2e: bool) -> tuple[str, dict]:
    """The per-family table (detection, false positives) and its data."""
    def count(rows, attack: bool) -> list[dict]:
        out = []
        for label, pred in rows:
            sel = [c for c in cases if c["attack"] == attack and pred(c["group"])]
            rejected = [c for c in sel if c["status"]["plain"] != 200]
            seen = [c for c in sel if c["status"]["plain"] == 200]
            d = {
                "row": label, "n": len(sel),
                "modsec": sum(c["status"]["modsec"] == 403 for c in sel),
                "modsec_other": sum(c["status"]["modsec"] not in (200, 403) for c in seen),
                "nginx_rejected": len(rejected),
                "modsec_seen_n": len(seen),
                "modsec_seen": sum(c["status"]["modsec"] == 403 for c in seen),
                "wedge": sum(c["wedge_blocked"] for c in sel),
            }
            if e2e:
                d["wedge_e2e"] = sum(c["status"]["wedge"] == 403 for c in sel)
            out.append(d)
        return out

    attacks, benign = count(ATTACK_ROWS, True), count(BENIGN_ROWS, False)
    e2e_col = ["wedge e2e"] if e2e else []
    tail = ["nginx refused", "ModSec other non-200"]
    lines = ["Detection (blocked = 403; ModSecurity column counts every row, "
             "the (seen) column only rows nginx itself accepted)", ""]
    lines += md_table(
        ["family", "attack rows", "ModSecurity", "ModSecurity (seen)", "wedge", *e2e_col, *tail],
        [[d["row"], f"{d['n']:,}", rate(d["modsec"], d["n"]),
          rate(d["modsec_seen"], d["modsec_seen_n"]), rate(d["wedge"], d["n"]),
          *([rate(d["wedge_e2e"], d["n"])] if e2e else []), d["nginx_rejected"],
          d["modsec_other"]] for d in attacks])
    lines += ["", "False positives (benign rows answered 403)", ""]
    count_pct = lambda k, d: f"{d[k]} ({pct(d[k], d['n'])})"  # noqa: E731
    lines += md_table(
        ["benign", "requests", "ModSecurity", "wedge", *e2e_col, *tail],
        [[d["row"], f"{d['n']:,}", count_pct("modsec", d), count_pct("wedge", d),
          *([count_pct("wedge_e2e", d)] if e2e else []), d["nginx_rejected"],
          d["modsec_other"]] for d in benign])
    return "\n".join(lines), {"attack": attacks, "benign": benign}


def md_table(head: list[str], rows: list[list]) -> list[str]:
    """A Markdown table's lines."""
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head),
            *("| " + " | ".join(str(c) for c in row) + " |" for row in rows)]


def oddities(cases: list[dict], e2e: bool) -> str:
    """What did not fit blocked/passed: statuses other than 200/403, and (with --wedge) where
    the component disagreed with the native evaluation."""
    lines = []
    seen: dict[tuple, int] = {}
    for c in cases:
        for target, status in c["status"].items():
            if status not in (200, 403) or (target == "plain" and status != 200):
                key = (target, c["group"], c["attack"], status)
                seen[key] = seen.get(key, 0) + 1
    if seen:
        lines.append("statuses other than 200/403 (target, group, attack, status: count):")
        for (target, group, attack, status), n in sorted(seen.items(), key=str):
            lines.append(f"   {target:<15}{group:<22}{'attack' if attack else 'benign':<8}"
                         f"{status}: {n}")
        examples = [c for c in cases if c["status"]["plain"] != 200][:5]
        for c in examples:
            lines.append(f"   e.g. nginx refused {c['status']['plain']}: {c['method']} "
                         f"{c['uri'][:100]}")
    refused = [c for c in cases if c["status"]["modsec"] != 200]
    named = sum(bool(c["modsec_rules"]) for c in refused)
    lines.append(f"ModSecurity audit log: rules found for {named} of the {len(refused)} "
                 "requests it did not answer 200")
    for label, pred in BENIGN_ROWS[:-1]:
        fps = [c for c in cases if not c["attack"] and pred(c["group"])]
        modsec = top(r for c in fps if c["status"]["modsec"] == 403 for r in c["modsec_rules"])
        wedge = top(c.get("wedge_rule") or "?" for c in fps if c["wedge_blocked"])
        lines.append(f"false positives on {label}: ModSecurity rules {modsec}; "
                     f"wedge rules {wedge}")
    other = [c for c in cases if c["status"]["modsec"] not in (200, 403)
             and c["status"]["plain"] == 200]
    if other:
        lines.append(f"ModSecurity's answers other than 200/403 ({len(other)}), by rule: "
                     f"{top(r for c in other for r in c['modsec_rules'])}")
    if e2e:
        diff = [c for c in cases if (c["status"]["wedge"] == 403) != c["wedge_blocked"]]
        lines.append(f"wedge end to end vs native: {len(cases) - len(diff)} of {len(cases)} agree")
        for c in diff[:10]:
            native = "block" if c["wedge_blocked"] else "pass"
            lines.append(f"   differs: {c['group']} native={native} e2e={c['status']['wedge']}"
                         f" :: {c['label'][:100]}")
        again = [c for c in cases if len({c["status"][t] for t in WEDGE_TARGETS}) > 1]
        lines.append(f"wedge sent each case three times (run, recorded, replayed): "
                     f"{len(cases) - len(again)} of {len(cases)} answered the same each time")
        for c in again[:10]:
            answers = "/".join(str(c["status"][t]) for t in WEDGE_TARGETS)
            lines.append(f"   differs: {c['group']} {answers} :: {c['label'][:100]}")
    return "\n".join(lines)


# The three sendings of each case to wedge (see main).
WEDGE_TARGETS = ("wedge", "wedge-recorded", "wedge-replayed")


def top(items, n: int = 8) -> str:
    """'id ×count, ...' of the most frequent items."""
    counts: dict[str, int] = {}
    for item in items:
        counts[item] = counts.get(item, 0) + 1
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
    return ", ".join(f"{k} ×{v}" for k, v in ranked) or "none"


# --------------------------------------------------------------------------- load


def wrk(port: int, request: str, duration: int, args) -> dict:
    path, headers = LOAD_REQUESTS[request]
    argv = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{duration}s", "--latency"]
    for k, v in headers.items():
        argv += ["-H", f"{k}: {v}"]
    argv.append(f"http://127.0.0.1:{port}{path}")
    return parse_wrk(run_tool(pinned(argv, args.loadgen_cpus), duration + 30))


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def load_test(front: Nginx, origin: Nginx, waf_port: int, plain_port: int,
              args) -> tuple[str, dict]:
    """Alternating wrk runs against the same nginx with and without ModSecurity, per request
    shape. Also checks that ModSecurity wrote nothing (audit log, error log) while measured:
    the benign requests trigger no rule, so no logging is in the measured path."""
    requests = args.load_requests
    print(f"\n== load: wrk -t{args.threads} -c{args.connections} -d{args.duration}s, plain HTTP "
          f"keep-alive, benign GETs ({', '.join(f'{r}: {LOAD_REQUESTS[r][0]}' for r in requests)};"
          f" answered 200 through both), {args.rounds} rounds alternating; ModSecurity response "
          f"body access {'Off' if args.response_body == 'off' else 'On (Debian default)'}",
          flush=True)
    targets = [("nginx", plain_port), ("nginx+modsec", waf_port)]
    logs = [front.prefix / AUDIT_LOG, front.prefix / "error.log"]
    for request in requests:
        for _, port in targets:
            wrk(port, request, args.warmup, args)
    runs: dict[str, dict[str, list[dict]]] = {r: {n: [] for n, _ in targets} for r in requests}
    logged = 0
    print(f"{'request':<9}{'contender':<14}{'rnd':>4}{'req/s':>10}{'p50':>10}{'p99':>10}"
          f"{'errors':>8}{'CPU µs/req':>12}{'load1':>7}", flush=True)
    for rnd in range(1, args.rounds + 1):
        for request in requests:
            for name, port in targets:
                load1 = os.getloadavg()[0]
                sizes = [file_size(log) for log in logs]
                cpu0 = front.cpu() + origin.cpu()
                r = wrk(port, request, args.duration, args)
                r["cpu_us"] = (front.cpu() + origin.cpu() - cpu0) / max(r["requests"], 1) * 1e6
                r["load1"] = load1
                logged += sum(file_size(log) - size for log, size in zip(logs, sizes))
                runs[request][name].append(r)
                print(f"{request:<9}{name:<14}{rnd:>4}{r['rps']:>10.0f}{r['p50_ms']:>8.2f}ms"
                      f"{r['p99_ms']:>8.2f}ms{r['errors']:>8}{r['cpu_us']:>12.1f}{load1:>7.2f}",
                      flush=True)
    lines, data = [], {"runs": runs, "medians": {}, "logged_bytes": logged}
    for request in requests:
        med = {name: {"rps": statistics.median(r["rps"] for r in rs),
                      "cpu_us": statistics.median(r["cpu_us"] for r in rs),
                      "errors": sum(r["errors"] for r in rs)}
               for name, rs in runs[request].items()}
        ratio = med["nginx+modsec"]["rps"] / med["nginx"]["rps"]
        cpu_ratio = med["nginx"]["cpu_us"] / med["nginx+modsec"]["cpu_us"]
        data["medians"][request] = {**med, "ratio": ratio, "cpu_ratio": cpu_ratio}
        lines.append(f"{request}: medians nginx {med['nginx']['rps']:.0f} req/s "
                     f"({med['nginx']['cpu_us']:.1f} µs CPU/req incl. origin), nginx+ModSecurity "
                     f"{med['nginx+modsec']['rps']:.0f} req/s ({med['nginx+modsec']['cpu_us']:.1f}"
                     f" µs); throughput with ModSecurity / without: {ratio:.3f} "
                     f"(CPU µs without / with: {cpu_ratio:.3f})")
    lines.append(f"bytes ModSecurity/nginx logged during the measured runs: {logged}"
                 + ("" if logged == 0 else " (some load requests were logged: see the temp dir "
                    "with --keep; the figures then include logging)"))
    data["ratio"] = data["medians"][requests[0]]["ratio"]
    return "\n".join(lines), data


# --------------------------------------------------------------------------- main


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", type=Path,
                   help="a WAF_EVAL_DUMP file to replay (default: run the corpus test for one)")
    p.add_argument("--jobs", type=int, default=4, help="requests in flight while replaying")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait per request")
    p.add_argument("--wedge", action="store_true",
                   help="also replay through a running wedge with the waf component")
    p.add_argument("--no-build", action="store_true",
                   help="with --wedge: use the wedge and waf.wasm already built")
    p.add_argument("--wedge-bin", type=Path, default=WEDGE_BIN)
    p.add_argument("--waf-wasm", type=Path, default=WAF_WASM)
    p.add_argument("--load", action="store_true",
                   help="also measure nginx proxy throughput with ModSecurity on vs off")
    p.add_argument("--no-replay", action="store_true", help="with --load: only the load test")
    p.add_argument("--duration", type=int, default=10, help="seconds per measured wrk run")
    p.add_argument("--rounds", type=int, default=3, help="measured runs per contender")
    p.add_argument("--warmup", type=int, default=2, help="seconds of unmeasured load first")
    p.add_argument("--load-requests", default="browser,bare",
                   help="comma-separated benign request shapes to load with: browser (a page "
                        "view: query arguments, cookies, referer), bare (GET / with a Host only)")
    p.add_argument("--response-body", choices=["debian", "off"], default="debian",
                   help="ModSecurity response body access: as Debian ships it (On, for text/plain, "
                        "text/html, text/xml; default) or off")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--pin", choices=["split", "off"], default="split",
                   help=f"split (default): servers on CPU {SERVER_CPUS}, wrk on CPU "
                        f"{LOADGEN_CPUS}; off: no pinning")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (configs, logs)")
    p.add_argument("--json", type=Path, help="also write the figures and per-case statuses here")
    args = p.parse_args()
    args.load_requests = [r.strip() for r in args.load_requests.split(",") if r.strip()]
    unknown = [r for r in args.load_requests if r not in LOAD_REQUESTS]
    if unknown or not args.load_requests:
        p.error(f"--load-requests: pick from {', '.join(LOAD_REQUESTS)}")
    split = args.pin == "split" and (os.cpu_count() or 1) >= 2
    args.server_cpus = SERVER_CPUS if split else None
    args.loadgen_cpus = LOADGEN_CPUS if split else None
    return args


def header(args) -> str:
    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                if l.startswith("model name")), platform.processor())
    nginx_v = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip()
    rev = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"],
                         capture_output=True, text=True).stdout.strip()
    return "\n".join([
        f"date: {time.strftime('%Y-%m-%d %H:%M %Z')}; machine: {os.cpu_count()} cores ({cpu}), "
        f"{platform.platform()}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        f"ModSecurity side: {nginx_v} (Debian {package_version('nginx')}), libmodsecurity3 "
        f"{package_version('libmodsecurity3')}, libnginx-mod-http-modsecurity "
        f"{package_version('libnginx-mod-http-modsecurity')}, modsecurity-crs "
        f"{package_version('modsecurity-crs')}; SecRuleEngine On, paranoia level 1, "
        "default anomaly thresholds; Debian's base config otherwise (no debug log, audit log "
        "RelevantOnly, response body access "
        f"{'Off' if args.response_body == 'off' else 'On'})",
        f"wedge side: native evaluation of the managed rule set (block) from the dump; tree {rev}",
    ])


def main() -> int:
    args = parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    workdir = Path(tempfile.mkdtemp(prefix="wedge-waf-"))
    workdir.chmod(0o755)  # nginx workers run as nobody
    def body() -> int:
        ensure_packages(args.load)
        if args.wedge and not args.no_build:
            build_wedge()
        cases_file = args.cases
        if not args.no_replay and cases_file is None:
            cases_file = workdir / "cases.jsonl"
            dump_cases(cases_file)
        machine = header(args)
        print("\n" + machine, flush=True)
        origin, origin_port = start_origin(workdir, args.server_cpus)
        front, waf_port, plain_port = start_front(workdir, origin_port, args.server_cpus, args)
        check_probe(waf_port, "nginx+modsecurity")
        doc: dict = {"header": machine.splitlines()}
        if not args.no_replay:
            cases = [json.loads(line) for line in cases_file.read_text().splitlines() if line]
            targets = {"modsec": waf_port, "plain": plain_port}
            if args.wedge:
                wedge_port = start_wedge(workdir, origin_port, args)
                check_probe(wedge_port, "wedge")
                # Each case twice more, right after: the second sighting is recorded and the
                # third replayed from wedge's decision cache, which must give the same answer.
                targets["wedge"] = wedge_port
                targets["wedge-recorded"] = wedge_port
                targets["wedge-replayed"] = wedge_port
            print(f"\n== replaying {len(cases)} cases from {cases_file}", flush=True)
            replay(cases, targets, args.jobs, args.timeout)
            audit_rules(front.prefix / AUDIT_LOG, cases)
            table, data = figures(cases, args.wedge)
            notes = oddities(cases, args.wedge)
            print("\n" + table + ("\n\n" + notes if notes else ""), flush=True)
            doc["figures"] = data
            doc["cases"] = [{"group": c["group"], "attack": c["attack"], "label": c["label"],
                             "wedge_blocked": c["wedge_blocked"],
                             "wedge_rule": c.get("wedge_rule"), "status": c["status"],
                             "modsec_rules": c["modsec_rules"]} for c in cases]
        if args.load:
            text, data = load_test(front, origin, waf_port, plain_port, args)
            print(text, flush=True)
            doc["load"] = data
        if args.json:
            args.json.write_text(json.dumps(doc, indent=1) + "\n")
            print(f"\nwrote {args.json}")
        return 0

    return run_main(body, workdir, args.keep)


if __name__ == "__main__":
    sys.exit(main())
