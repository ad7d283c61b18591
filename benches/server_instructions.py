#!/usr/bin/env python3
"""Instructions per proxied request of the whole wedge server process against the bare-stack
floor-proxy (benches/src/bin/floor-proxy.rs), counted by callgrind: they repeat to within about
half a percent where timings on a shared machine do not.

    cargo build --release -p wedge -p wedge-benches --bins
    python3 benches/server_instructions.py [-n 4000] [--warmup 2000] [--connections 16]
        [--scenario ceiling|proxy|proxy-unique-query|waf-unique-query|waf-unique-search]
        [--only wedge|floor]
        [--top 25] [--callers NAME ...] [--pin split|off] [--keep]

Each contender runs under `valgrind --tool=callgrind` in front of the same nginx origin (a static
1 KiB file, not under valgrind). After a warm-up, `h2load --h1` sends N then 2N keep-alive
requests, the counters zeroed before and dumped after each run; every answer must be 2xx.
(I(2N) - I(N)) / N cancels what each run pays once (its C new TLS handshakes, connection set-up
and teardown); I(N) / N is printed beside it. Counts are all threads' user-space instructions
(Ir), not the kernel's; they include what runs on wall-clock time (timers), which grows with a
run's length. Per function, callgrind's exclusive costs are summed over threads.

Scenarios: `ceiling` (wedge with no functions), `proxy` (device-class on every request, as
benches/load/compare.py's proxy scenario), `proxy-unique-query` (the same, every query a new
bare token), `waf-unique-query` (the WAF then device-class, every query a new bare token, at
most 2 connections: the WAF's verdict is reused by query shape) and `waf-unique-search` (the
same with a new search text in every query: the WAF runs on every request). The WAF's
compiled code has no symbols here and counts as "other"; run with WEDGE_PERF_MAP=1 in the
environment (and `--keep`) to name its addresses from /tmp/perf-<pid>.map.

Needs valgrind, nginx and h2load (installed with apt-get when missing: valgrind nginx
nghttp2-client). Takes under a minute on 2 cores (each contender: ~5 s to start under valgrind,
~15 s of load); `--scenario proxy` may take minutes more to start when wedge has to compile the
function under valgrind. Python 3.11 standard library only.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

BENCHES = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCHES), str(BENCHES / "load")]
from compare import (BENCH_PATH, DEVICE_CLASS_WASM, WAF_WASM,  # noqa: E402
                     EXPECTED_DEVICE_ECHO, HOST, LOADGEN_CPUS, MOBILE_UA,
                     SERVER_CPUS, floor_argv, https_get, start_origin, wedge_config)
from benchlib import (CHILDREN, FLOOR_BIN, REPO, WEDGE_BIN, free_port,  # noqa: E402
                      install_missing, pinned, run_main, run_tool, self_signed, wait_for)

PACKAGES = {"valgrind": "valgrind", "callgrind_control": "valgrind", "nginx": "nginx",
            "h2load": "nghttp2-client", "openssl": "openssl"}


@dataclass(frozen=True)
class Scenario:
    """What wedge's behavior runs (a function listed in the config is loaded, so the others are
    left out of it) and what the load looks like."""

    functions: tuple[str, ...]
    what: str
    # Every request gets a query string never sent before: "token", a new bare token (a
    # cache-buster: the WAF's verdict is reused by query shape); "search", a new search text
    # (the WAF inspects every one).
    unique_query: str = ""
    # At most this many connections: each request in flight holds its own instances, and the
    # pool valgrind can reserve is small.
    max_connections: int | None = None
    # Instances in wedge's pool (WEDGE_MAX_INSTANCES): valgrind cannot reserve the default.
    instances: int = 3


SCENARIOS = {
    "ceiling": Scenario((), "wedge with no functions on the behavior"),
    "proxy": Scenario(("device-class",), "wedge with device-class on the behavior (origin sees "
                      "the device headers; one User-Agent, so its decision is replayed)"),
    "proxy-unique-query": Scenario(("device-class",), "as proxy, every query string new",
                                   unique_query="token"),
    "waf-unique-query": Scenario(("waf", "device-class"), "the WAF (managed rules, block mode) "
                                 "then device-class, every query a new cache-buster token: "
                                 "the WAF's verdict is reused by query shape",
                                 unique_query="token", max_connections=2, instances=6),
    "waf-unique-search": Scenario(("waf", "device-class"), "the WAF (managed rules, block "
                                  "mode) then device-class, every query a new search text: "
                                  "the WAF runs on every request", unique_query="search",
                                  max_connections=2, instances=6),
}
# What a whole load run may take under valgrind, and how long a dump may take to appear.
LOAD_TIMEOUT = 3600.0
DUMP_TIMEOUT = 120.0
NAME_WIDTH = 110
# What callgrind appends to a function's name at each recursion depth (`name'2`).
RECURSION_SUFFIX = re.compile(r"'\d+$")
# Called once per full TLS handshake (whatever the key type): counts the connections a run
# opened, to show that h2load keeps its connections alive.
HANDSHAKE_FN = "rustls::server::hs::ExpectClientHello::with_certified_key"


# --------------------------------------------------------------------------- callgrind's format


@dataclass
class Profile:
    """One callgrind dump: exclusive Ir per function, and per (caller, callee) the calls and
    their inclusive Ir. Functions are keyed by name (all objects, all threads)."""

    total: int = 0  # the dump's `totals:` line
    exclusive: dict[str, int] = field(default_factory=dict)
    calls: dict[tuple[str, str], list[int]] = field(default_factory=dict)  # [count, inclusive]

    def minus(self, other: Profile) -> Profile:
        """This dump's costs less other's, function by function."""
        exclusive = {name: self.exclusive.get(name, 0) - other.exclusive.get(name, 0)
                     for name in self.exclusive.keys() | other.exclusive.keys()}
        calls = {key: [a - b for a, b in zip(self.calls.get(key, [0, 0]),
                                             other.calls.get(key, [0, 0]))]
                 for key in self.calls.keys() | other.calls.keys()}
        return Profile(self.total - other.total, exclusive, calls)

    def calls_to(self, callee: str) -> int:
        return sum(count for (_, name), (count, _) in self.calls.items() if name == callee)

    def scaled(self, divisor: float) -> dict[str, float]:
        """Exclusive Ir per function divided by divisor (per request)."""
        return {name: ir / divisor for name, ir in self.exclusive.items()}


def parse_callgrind(path: Path) -> Profile:
    """Read a callgrind output file (format version 1, name compression allowed).

    A cost line is `<positions> <events...>` (positions absolute, `+n`, `-n` or `*`); the cost
    line right after a `calls=` line is the callee's inclusive cost for those calls, charged to
    the call, not to the caller's own (exclusive) cost.
    """
    profile = Profile()
    names: dict[str, str] = {}  # "(id)" -> function name (fn= and cfn= share the ids)
    n_positions, ir_at = 1, 0
    fn = cfn = ""
    call_count: int | None = None
    totals: int | None = None
    with open(path, errors="replace") as f:
        for line in f:
            first = line[:1]
            if first and (first.isdigit() or first in "+-*"):
                fields = line.split()
                at = n_positions + ir_at
                ir = int(fields[at]) if len(fields) > at else 0
                if call_count is not None:
                    entry = profile.calls.setdefault((fn, cfn), [0, 0])
                    entry[0] += call_count
                    entry[1] += ir
                    call_count = None
                else:
                    profile.exclusive[fn] = profile.exclusive.get(fn, 0) + ir
                continue
            key, eq, value = line.rstrip("\n").partition("=")
            if eq and key == "fn":
                fn = _function_name(value, names)
            elif eq and key == "cfn":
                cfn = _function_name(value, names)
            elif eq and key == "calls":
                call_count = int(value.split()[0])
            elif line.startswith("positions:"):
                n_positions = len(line.split()) - 1
            elif line.startswith("events:"):
                events = line.split()[1:]
                if "Ir" not in events:
                    raise RuntimeError(f"{path}: no Ir event in {events}")
                ir_at = events.index("Ir")
            elif line.startswith("totals:"):
                totals = int(line.split()[1 + ir_at])
    counted = sum(profile.exclusive.values())
    if totals is None:
        raise RuntimeError(f"{path}: no totals line (dump incomplete?)")
    if totals != counted:
        raise RuntimeError(f"{path}: parsed {counted} Ir but the dump's totals say {totals}")
    profile.total = totals
    return profile


def _function_name(value: str, names: dict[str, str]) -> str:
    """`(id) name` defines id, `(id)` refers to it, a bare name is used as is. The recursion
    depth callgrind appends (`name'2`) is dropped: one function, one row."""
    if not value.startswith("("):
        return RECURSION_SUFFIX.sub("", value)
    ref, _, name = value.partition(")")
    ref += ")"
    name = name.strip()
    if name:
        names[ref] = RECURSION_SUFFIX.sub("", name)
        return names[ref]
    if ref not in names:
        raise RuntimeError(f"callgrind output refers to undefined function {ref}")
    return names[ref]


# --------------------------------------------------------------------------- contenders


@dataclass
class Contender:
    """A server to measure: how to start it under callgrind, and what it answers on."""

    name: str  # "wedge" or "floor"
    argv: list[str]
    port: int
    env: dict[str, str] | None = None


@dataclass
class Measurement:
    """The two dumps of one contender: after N and after 2N requests."""

    short: Profile
    long: Profile
    n: int

    def raw_per_request(self) -> float:
        return self.short.total / self.n

    def raw_long_per_request(self) -> float:
        return self.long.total / (2 * self.n)

    @cached_property
    def differenced(self) -> Profile:
        """I(2N) - I(N): what N more requests cost, each run's fixed costs cancelled."""
        return self.long.minus(self.short)

    def per_request(self) -> float:
        return self.differenced.total / self.n


def without_unused_functions(text: str, keep: list[str]) -> str:
    """The config text with every `[functions.NAME]` table not in keep removed (with the
    comment lines right above it), so that wedge loads only the functions the scenario runs."""
    out: list[str] = []
    skipping = False
    for line in text.splitlines(keepends=True):
        m = re.match(r"\[functions\.([\w-]+)\]", line)
        if m:
            skipping = m.group(1) not in keep
            while skipping and out and out[-1].startswith("#"):
                out.pop()
        elif line.startswith(("[", "#")):
            skipping = False
        if not skipping:
            out.append(line)
    return "".join(out)


def wedge_contender(workdir: Path, scenario: str, cert: tuple[Path, Path], origin_port: int,
                    wedge_bin: Path) -> Contender:
    """wedge on benches/load/wedge.toml.tmpl, with only the scenario's functions."""
    functions = list(SCENARIOS[scenario].functions)
    port, admin = free_port(), free_port()
    conf = wedge_config(workdir / "wedge.toml", port, admin, origin_port, cert,
                        DEVICE_CLASS_WASM, functions, cache=False)
    conf.write_text(without_unused_functions(conf.read_text(), functions))
    # valgrind cannot reserve the default wasm instance pool's address space.
    env = {**os.environ, "WEDGE_LOG": "warn",
           "WEDGE_MAX_INSTANCES": str(SCENARIOS[scenario].instances)}
    # Compiled and configured at native speed into the artifact cache first: under
    # valgrind, compiling a new build of a function and configuring it (the WAF) can
    # outlast the start-up deadline, and the server then refuses to start.
    subprocess.run([str(wedge_bin), "check", "--config", str(conf)], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    return Contender("wedge", [str(wedge_bin), "serve", "--config", str(conf)], port, env)


def floor_contender(cert: tuple[Path, Path], origin_port: int, floor_bin: Path) -> Contender:
    """floor-proxy: hyper + hyper-util's client + rustls, nothing of wedge's."""
    port = free_port()
    return Contender("floor", floor_argv(floor_bin, port, cert, origin_port), port)


# --------------------------------------------------------------------------- running


def wait_ready(proc: subprocess.Popen, contender: Contender, log: Path, expect_echo: str,
               timeout: float) -> None:
    """Wait until GET BENCH_PATH through the contender answers 200, then check what the
    origin's /__device probe saw (the device headers, or none)."""
    start = time.monotonic()

    def answers() -> bool:
        try:
            return https_get(contender.port, BENCH_PATH)[0] == 200
        except http.client.HTTPException:  # a half-started server's garbled answer
            return False

    wait_for(answers, contender.name, proc, log, timeout)
    status, echo = https_get(contender.port, "/__device")
    if status != 200 or echo != expect_echo:
        raise RuntimeError(f"{contender.name}: origin saw device headers {echo!r}, expected "
                           f"{expect_echo!r} (status {status})")
    print(f"   {contender.name}: answering after {time.monotonic() - start:.0f}s", flush=True)


def h2load(port: int, n: int, connections: int, cpus: str | None,
           unique: Path | None = None, kind: str = "token") -> None:
    """n HTTP/1.1 keep-alive requests over `connections` connections; fail unless every
    request completed with a 2xx answer. With `unique`, each request's query string is new
    (a bare token, or with `kind` "search" a search text): h2load takes the URIs, one per
    request, from that file (written here)."""
    uri = f"https://127.0.0.1:{port}{BENCH_PATH}"
    if unique is not None:
        # Query strings never sent before (no two runs share the file's name).
        words = "red+shoes+" if kind == "search" else ""
        unique.write_text("".join(f"{uri}?q={words}{unique.stem}-{i}&page=search\n"
                                  for i in range(n)))
    argv = ["h2load", "--h1", f"-n{n}", f"-c{connections}", "-t1",
            "-H", f":authority: {HOST}", "-H", f"user-agent: {MOBILE_UA}",
            *(["-i", str(unique)] if unique is not None else [uri])]
    out = run_tool(pinned(argv, cpus), LOAD_TIMEOUT)
    req = re.search(r"requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded", out)
    codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    if not req or not codes:
        raise RuntimeError(f"cannot read h2load's output:\n{out}")
    if int(req.group(2)) != n or int(codes.group(1)) != n:
        raise RuntimeError(f"h2load: {n} requests sent, {req.group(2)} done, {codes.group(1)} "
                           f"answered 2xx ({codes.group(0)}):\n{out}")


def callgrind_control(option: str, pid: int) -> None:
    run = subprocess.run(["callgrind_control", option, str(pid)], capture_output=True,
                         text=True, timeout=DUMP_TIMEOUT)
    if run.returncode != 0:
        raise RuntimeError(f"callgrind_control {option} {pid} failed ({run.returncode}): "
                           f"{(run.stderr or run.stdout).strip()[:500]}")


def dump(pid: int, out: Path) -> Path:
    """Ask callgrind for a dump (it zeroes the counters too) and wait until the new file
    `<out>.<k>` is complete."""
    before = set(out.parent.glob(out.name + ".*"))
    callgrind_control("-d", pid)
    deadline = time.monotonic() + DUMP_TIMEOUT
    while time.monotonic() < deadline:
        new = sorted(set(out.parent.glob(out.name + ".*")) - before,
                     key=lambda p: int(p.suffix[1:]))
        if new and _complete(new[-1]):
            return new[-1]
        time.sleep(0.5)
    raise RuntimeError(f"no complete callgrind dump next to {out} after {DUMP_TIMEOUT:.0f}s")


def _complete(path: Path) -> bool:
    """A dump is complete once its last line, `totals:`, is written."""
    with open(path, "rb") as f:
        f.seek(max(0, path.stat().st_size - 4096))
        return b"\ntotals:" in f.read()


def measure(contender: Contender, args: argparse.Namespace, workdir: Path,
            expect_echo: str) -> Measurement:
    """Start the contender under callgrind, warm it up, count a run of N and one of 2N
    requests (counters zeroed before each), and stop it."""
    out = workdir / f"callgrind.{contender.name}.out"
    log = workdir / f"{contender.name}.log"
    argv = pinned(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                   *contender.argv], args.server_cpus)
    print(f"\n== {contender.name}: starting under callgrind (log {log.name})", flush=True)
    proc = CHILDREN.spawn(argv, log=log, env=contender.env)
    try:
        wait_ready(proc, contender, log, expect_echo, args.start_timeout)
        profiles = []
        for label, n in (("warm-up", args.warmup), ("measured", args.n),
                         ("measured", 2 * args.n)):
            if label == "measured":
                callgrind_control("-z", proc.pid)
            started = time.monotonic()
            unique = (workdir / f"uris-{contender.name}-{len(profiles)}-{n}.txt"
                      if SCENARIOS[args.scenario].unique_query else None)
            h2load(contender.port, n, args.connections, args.loadgen_cpus, unique,
                   SCENARIOS[args.scenario].unique_query)
            if label == "measured":
                profiles.append(parse_callgrind(dump(proc.pid, out)))
            print(f"   {contender.name}: {label} {n} requests in "
                  f"{time.monotonic() - started:.0f}s", flush=True)
    finally:
        CHILDREN.stop(proc, timeout=120)
    return Measurement(profiles[0], profiles[1], args.n)


# --------------------------------------------------------------------------- reporting


CRATES = [("wedge / floor-proxy code", "wedge|floor_proxy"), ("rustls", "(?:tokio_)?rustls"),
          ("tokio", "tokio"), ("hyper", "hyper"), ("hyper_util", "hyper_util"),
          ("http crate", "http"), ("httparse", "httparse")]
# Library code found anywhere in a symbol, checked before the crates.
LIBRARIES = [("aws-lc/AES/GCM/SHA", r"aws_lc|aesni|gcm|sha256"),
             ("malloc/free", r"malloc|free|_int_|realloc|unlink_chunk|calloc"),
             ("memcpy/memmove/memset/memcmp", r"mem(?:cpy|move|set|cmp)|bcmp"),
             ("fmt", r"core::fmt|alloc::fmt|::fmt\b"),
             ("hashing", r"hash|Hasher|sip")]
CATEGORY_ORDER = [CRATES[0][0], CRATES[1][0], LIBRARIES[0][0], *(c for c, _ in CRATES[2:]),
                  *(c for c, _ in LIBRARIES[1:]), "other"]


def category(name: str) -> str:
    """What a function is part of: a library matched anywhere in its name, else the crate its
    path starts with (`crate::...` or `<crate::... as ...>`), else the first crate found
    in its generic arguments (`<crate::`), else other."""
    for label, rx in LIBRARIES:
        if re.search(rx, name):
            return label
    for anchor in (r"^<?", r"<"):
        for label, crate in CRATES:
            if re.search(rf"{anchor}(?:{crate})::", name):
                return label
    return "other"


def by_category(per_fn: dict[str, float]) -> dict[str, float]:
    sums: dict[str, float] = {}
    for name, ir in per_fn.items():
        label = category(name)
        sums[label] = sums.get(label, 0.0) + ir
    return sums


def git_revision() -> str:
    rev = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True).stdout.strip() or "unknown"
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return f"{rev} (with uncommitted changes)" if dirty else rev


def header(args: argparse.Namespace) -> str:
    c = args.connections
    return "\n".join([
        "== instructions per proxied request (callgrind Ir, all threads, user space only)",
        f"commit {git_revision()}; binaries: {args.wedge_bin} and {args.floor_bin}",
        f"scenario {args.scenario}: {SCENARIOS[args.scenario].what}",
        f"load: h2load --h1 -t1 -c{c}, GET {BENCH_PATH} (1 KiB from a local nginx origin), "
        f"Host {HOST}, mobile User-Agent; {args.warmup} warm-up requests, then N={args.n} and "
        f"2N={2 * args.n} requests, counters zeroed before each run; "
        + (f"contender on CPU {args.server_cpus}, h2load on CPU {args.loadgen_cpus}"
           if args.server_cpus else "not pinned"),
        f"each h2load run opens {c} new connections (a full TLS handshake each) and keeps them "
        f"alive for all its requests; raw I(N)/N includes those {c} handshakes, differenced "
        "(I(2N) - I(N))/N cancels them and every other once-per-run cost",
    ])


def fmt_int(x: float) -> str:
    return f"{x:,.0f}"


def totals_table(results: dict[str, Measurement]) -> list[str]:
    lines = [f"{'':<16}{'raw I(N)/N':>14}{'raw I(2N)/2N':>14}{'differenced':>14}"]
    for name, m in results.items():
        lines.append(f"{name:<16}{fmt_int(m.raw_per_request()):>14}"
                     f"{fmt_int(m.raw_long_per_request()):>14}{fmt_int(m.per_request()):>14}")
    if len(results) == 2:
        w, f = results["wedge"], results["floor"]
        pairs = [(w.raw_per_request(), f.raw_per_request()),
                 (w.raw_long_per_request(), f.raw_long_per_request()),
                 (w.per_request(), f.per_request())]
        lines.append(f"{'wedge/floor':<16}" + "".join(f"{a / b:>13.3f}x" for a, b in pairs))
        lines.append(f"{'wedge - floor':<16}" + "".join(f"{fmt_int(a - b):>14}" for a, b in pairs))
    return lines


def handshakes_line(results: dict[str, Measurement], connections: int) -> str:
    """The full TLS handshakes each run did (calls to HANDSHAKE_FN): C each if every
    connection was kept alive for all its requests."""
    counts = {name: (m.short.calls_to(HANDSHAKE_FN), m.long.calls_to(HANDSHAKE_FN))
              for name, m in results.items()}
    line = "full TLS handshakes per run (N, 2N): " + ", ".join(
        f"{name} {a}, {b}" for name, (a, b) in counts.items())
    if all(c == connections for pair in counts.values() for c in pair):
        return line + ": one per connection, the connections were kept alive"
    return line + f": NOT {connections} each (connections reopened, or {HANDSHAKE_FN} inlined?)"


def top_functions(results: dict[str, Measurement], k: int) -> list[str]:
    per = {name: m.differenced.scaled(m.n) for name, m in results.items()}
    w, f = per.get("wedge", {}), per.get("floor", {})
    diffs = {name: w.get(name, 0.0) - f.get(name, 0.0) for name in set(w) | set(f)}
    order = sorted(diffs, key=lambda name: -abs(diffs[name]))[:k]
    lines = [f"{'wedge':>10}{'floor':>10}{'diff':>10}  function"]
    for name in order:
        lines.append(f"{fmt_int(w.get(name, 0)):>10}{fmt_int(f.get(name, 0)):>10}"
                     f"{fmt_int(diffs[name]):>10}  {truncate(name)}")
    return lines


def category_table(results: dict[str, Measurement]) -> list[str]:
    per = {name: by_category(m.differenced.scaled(m.n)) for name, m in results.items()}
    w, f = per.get("wedge", {}), per.get("floor", {})
    lines = [f"{'category':<30}{'wedge':>10}{'floor':>10}{'diff':>10}"]
    for label in CATEGORY_ORDER:
        a, b = w.get(label, 0.0), f.get(label, 0.0)
        lines.append(f"{label:<30}{fmt_int(a):>10}{fmt_int(b):>10}{fmt_int(a - b):>10}")
    a, b = sum(w.values()), sum(f.values())
    lines.append(f"{'total':<30}{fmt_int(a):>10}{fmt_int(b):>10}{fmt_int(a - b):>10}")
    return lines


def callers_table(m: Measurement, needle: str, k: int) -> list[str]:
    """Callers of the functions whose name contains needle: inclusive Ir of those calls and
    calls, per request (differenced)."""
    calls = m.differenced.calls
    rows = [(ir / m.n, count / m.n, callee, caller) for (caller, callee), (count, ir)
            in calls.items() if needle in callee]
    # Rows that would print as 0 and 0.00 are left out.
    rows = sorted((r for r in rows if round(r[0]) or round(r[1], 2)), key=lambda r: -abs(r[0]))
    lines = [f"{'incl/req':>10}{'calls/req':>10}  caller  ->  callee"]
    for ir, count, callee, caller in rows[:k]:
        lines.append(f"{fmt_int(ir):>10}{count:>10.2f}  {truncate(caller, 70)}  ->  "
                     f"{truncate(callee, 60)}")
    if not rows:
        lines.append("   (no calls to a function with that name)")
    return lines


def truncate(name: str, width: int = NAME_WIDTH) -> str:
    return name if len(name) <= width else name[:width - 1] + "…"


def report(args: argparse.Namespace, results: dict[str, Measurement]) -> None:
    print("\n" + header(args) + "\n")
    print("\n".join(totals_table(results)))
    print(handshakes_line(results, args.connections))
    print(f"\n== top {args.top} functions by |wedge - floor|, exclusive instructions per request "
          "(differenced)")
    print("\n".join(top_functions(results, args.top)))
    print("\n== by category, exclusive instructions per request (differenced)")
    print("\n".join(category_table(results)))
    if "wedge" in results:
        for needle in args.callers or []:
            print(f"\n== wedge: top callers of functions whose name contains {needle!r} "
                  "(per request, differenced)")
            print("\n".join(callers_table(results["wedge"], needle, args.top)))


# --------------------------------------------------------------------------- main


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-n", type=int, default=4000, help="requests in the short measured run "
                   "(the long one sends 2n)")
    p.add_argument("--warmup", type=int, default=2000, help="unmeasured requests first")
    p.add_argument("--connections", type=int, default=16, help="h2load -c")
    p.add_argument("--scenario", choices=sorted(SCENARIOS), default="ceiling")
    p.add_argument("--only", choices=["wedge", "floor"], help="measure one contender")
    p.add_argument("--top", type=int, default=25, help="rows in the function tables")
    p.add_argument("--callers", action="append", metavar="NAME",
                   help="also list wedge's top callers of functions whose name contains NAME "
                        "(repeatable)")
    p.add_argument("--wedge-bin", type=Path, default=WEDGE_BIN)
    p.add_argument("--floor-bin", type=Path, default=FLOOR_BIN)
    p.add_argument("--start-timeout", type=float, default=900.0,
                   help="seconds a contender may take to answer under valgrind (default 900)")
    p.add_argument("--pin", choices=["split", "off"], default="split",
                   help=f"split (default; steadier counts): the contender on CPU {SERVER_CPUS}, "
                        f"h2load on CPU {LOADGEN_CPUS}; off: no pinning")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (configs, logs, dumps)")
    args = p.parse_args()
    split = args.pin == "split" and (os.cpu_count() or 1) >= 2
    args.server_cpus = SERVER_CPUS if split else None
    args.loadgen_cpus = LOADGEN_CPUS if split else None
    args.wedge_bin, args.floor_bin = args.wedge_bin.resolve(), args.floor_bin.resolve()
    limit = SCENARIOS[args.scenario].max_connections
    if limit is not None and args.connections > limit:
        print(f"note: {args.scenario} runs at most {limit} connections (wedge's instance pool "
              "under valgrind is small)")
        args.connections = limit
    if args.n < 1 or args.warmup < 0 or not 1 <= args.connections <= args.n:
        p.error("need n >= 1, warmup >= 0 and 1 <= connections <= n")
    return args


def check_inputs(args: argparse.Namespace) -> None:
    """The binaries (and the function) to measure must exist; tools are installed if not."""
    wanted = [args.wedge_bin] if args.only != "floor" else []
    wanted += [args.floor_bin] if args.only != "wedge" else []
    if args.only != "floor":
        wasm = {"device-class": DEVICE_CLASS_WASM, "waf": WAF_WASM}
        wanted += [wasm[f] for f in SCENARIOS[args.scenario].functions]
    missing = [str(p) for p in wanted if not p.exists()]
    if missing:
        raise RuntimeError(f"missing {', '.join(missing)}: run `cargo build --release -p wedge "
                           "-p wedge-benches --bins` (and the functions' wasm32-wasip2 build)")
    install_missing(sorted({pkg for tool, pkg in PACKAGES.items() if not shutil.which(tool)}))


def run(args: argparse.Namespace, workdir: Path) -> dict[str, Measurement]:
    cert = self_signed(workdir, HOST, "ecdsa")
    origin = start_origin(workdir, None)
    contenders = []
    if args.only != "floor":
        contenders.append(wedge_contender(workdir, args.scenario, cert, origin.port,
                                          args.wedge_bin))
    if args.only != "wedge":
        contenders.append(floor_contender(cert, origin.port, args.floor_bin))
    results = {}
    for c in contenders:
        classifies = "device-class" in SCENARIOS[args.scenario].functions
        echo = EXPECTED_DEVICE_ECHO if c.name == "wedge" and classifies else ""
        results[c.name] = measure(c, args, workdir, echo)
    return results


def main() -> int:
    args = parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="wedge-instructions-"))
    workdir.chmod(0o755)  # nginx workers run as nobody and must read the docroot

    def body() -> int:
        check_inputs(args)
        report(args, run(args, workdir))
        print(f"\n(took {time.monotonic() - started:.0f}s)")
        return 0

    return run_main(body, workdir, args.keep)


if __name__ == "__main__":
    sys.exit(main())
