"""What the bench scripts share: child processes that stop with the script, ports,
/proc sampling, Debian packages, templates, certificates and wrk's output.

Used by benches/load/compare.py, benches/load/idle_connections.py and
benches/waf/modsec_compare.py (each puts this folder on sys.path). Python 3.11 standard
library only.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
PR_SET_PDEATHSIG = 1


class Children:
    """Every child process a script started, so they all stop on exit, error or ctrl-C."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []

    def spawn(self, argv: list[str], *, log: Path | None = None, env: dict | None = None,
              capture: bool = False, tie: bool = True) -> subprocess.Popen:
        """Start argv in its own process group (so ctrl-C reaches only the script, which then
        stops it); with tie, the kernel SIGTERMs it if the script dies. Output goes to log, to
        pipes (capture) or nowhere."""
        if capture:
            out = err = subprocess.PIPE
        elif log:
            out, err = open(log, "ab"), subprocess.STDOUT
        else:
            out = err = subprocess.DEVNULL
        try:
            proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env, text=capture,
                                    start_new_session=True,
                                    preexec_fn=_die_with_parent if tie else None)
        finally:
            if log and not capture:
                out.close()
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen, timeout: float = 10.0) -> None:
        """SIGTERM the child's process group, then SIGKILL it if it does not exit in time."""
        if proc.poll() is None:
            _signal_group(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                _signal_group(proc.pid, signal.SIGKILL)
                proc.wait()
        if proc in self.procs:
            self.procs.remove(proc)

    def stop_all(self) -> None:
        """Stop every child still running, newest first."""
        for proc in reversed(list(self.procs)):
            self.stop(proc)

    def clean_up(self, workdir: Path, keep: bool) -> None:
        """At the end of a run: stop every child, then remove the run's temp dir (or keep it,
        saying where)."""
        self.stop_all()
        if keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def run_main(body, workdir: Path, keep: bool) -> int:
    """A bench's main body, run: a failure becomes a message and exit status 1, ctrl-C 130,
    and whatever happens the children stop and the temp dir goes (or is kept)."""
    try:
        return body()
    except (RuntimeError, subprocess.SubprocessError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        CHILDREN.clean_up(workdir, keep)


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _die_with_parent() -> None:
    """In the child, before exec: ask the kernel to SIGTERM it if the script is killed."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


CHILDREN = Children()


def pinned(argv: list[str], cpus: str | None) -> list[str]:
    """argv wrapped in taskset when cpus is given."""
    return ["taskset", "-c", cpus, *argv] if cpus else argv


def free_port() -> int:
    """A port nobody listens on right now (bind port 0 and ask the kernel)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, what: str, proc: subprocess.Popen, log: Path | None = None,
             timeout: float = 30.0) -> None:
    """Poll predicate() until true; fail early if proc exits (quoting the end of its log)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:]) if log else ""
            raise RuntimeError(f"{what}: process exited with {proc.returncode}\n{tail}")
        try:
            if predicate():
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{what}: not ready after {timeout:.0f}s")


def tcp_open(port: int) -> bool:
    """True once something accepts TCP connections on 127.0.0.1:port."""
    with socket.create_connection(("127.0.0.1", port), timeout=1):
        return True


def admin_healthy(port: int) -> bool:
    """True once wedge's admin listener on port answers /healthz."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
        return r.status == 200


def process_tree(pid: int) -> list[int]:
    """pid and its direct children (an nginx master and its workers)."""
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        kids = []
    return [pid, *map(int, kids)]


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of the given processes (all their threads), in seconds."""
    total = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / CLK_TCK


def status_kb(pid: int, key: str) -> int:
    """A `kB` value (VmHWM, VmRSS) from /proc/<pid>/status, 0 if the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def install_missing(packages: list[str]) -> None:
    """apt-get install the given Debian packages (updating the lists once if that fails)."""
    if not packages:
        return
    print(f"installing {' '.join(packages)} ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    apt = ["apt-get", "install", "-y", "--no-install-recommends", *packages]
    if subprocess.run(apt, env=env).returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, check=True)
        subprocess.run(apt, env=env, check=True)


def render(template: Path, dest: Path, **values) -> Path:
    """Fill the {{NAME}} placeholders of template and write it to dest."""
    text = template.read_text()
    for name, value in values.items():
        text = text.replace("{{" + name + "}}", str(value))
    if "{{" in text:
        near = text[text.index("{{"):][:40]
        raise RuntimeError(f"{template.name}: unfilled placeholder near {near!r}")
    dest.write_text(text)
    return dest


def self_signed(workdir: Path, host: str, kind: str = "ecdsa") -> tuple[Path, Path]:
    """A self-signed certificate and key for host (with a DNS SAN): ECDSA P-256 or RSA 2048."""
    key_args = {"ecdsa": ["ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"],
                "rsa": ["rsa", "-pkeyopt", "rsa_keygen_bits:2048"]}[kind]
    cert, key = workdir / f"{kind}.crt", workdir / f"{kind}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", key_args[0], *key_args[1:],
                    "-nodes", "-days", "30", "-subj", f"/CN={host}",
                    "-addext", f"subjectAltName=DNS:{host}",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


def parse_duration_ms(text: str) -> float:
    """wrk's '812.00us' / '1.52ms' / '1.01s' / '1.00m' as milliseconds."""
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if not m:
        raise ValueError(f"cannot parse duration {text!r}")
    scale = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}[m.group(2)]
    return float(m.group(1)) * scale


def parse_wrk(out: str) -> dict:
    """Requests, req/s, p50/p99 latency (ms) and errors (socket errors and non-2xx/3xx
    answers) from the output of `wrk --latency`."""
    # wrk pads a latency in seconds ("1.02s ") with a space: no `$` after the value.
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M))
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        # NaN, not a crash, when wrk printed no latency (no request completed).
        "p50_ms": parse_duration_ms(lat["50"]) if "50" in lat else float("nan"),
        "p99_ms": parse_duration_ms(lat["99"]) if "99" in lat else float("nan"),
        "errors": (sum(map(int, sock.groups())) if sock else 0)
        + (int(non2xx.group(1)) if non2xx else 0),
    }


def run_tool(argv: list[str], timeout: float) -> str:
    """Run a load generator as a tracked child and return its stdout."""
    proc = CHILDREN.spawn(argv, capture=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        CHILDREN.stop(proc)
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({proc.returncode}): {err.strip()[:500]}")
    return out


REPO = Path(__file__).resolve().parents[1]
WEDGE_BIN = REPO / "target/release/wedge"
FLOOR_BIN = REPO / "target/release/floor-proxy"
FUNCTIONS_TARGET = REPO / "target/functions"


def cargo_build(functions: list[str] | None = None) -> None:
    """Release builds of wedge and of the wasm functions (`functions`: only these packages),
    into the target directories the tests and `wedge dev` use."""
    print("building wedge (release) ...", flush=True)
    subprocess.run(["cargo", "build", "--release", "-p", "wedge"], cwd=REPO, check=True)
    print("building functions (wasm32-wasip2, release) ...", flush=True)
    packages = [arg for name in functions or [] for arg in ("-p", name)]
    env = {**os.environ, "CARGO_TARGET_DIR": str(FUNCTIONS_TARGET)}
    subprocess.run(["cargo", "build", "--release", "--target", "wasm32-wasip2",
                    "--manifest-path", "functions/Cargo.toml", *packages],
                   cwd=REPO, env=env, check=True)


def spawn_nginx(name: str, conf: Path, prefix: Path, ports: list[int], cpus: str | None,
                timeout: float = 30.0) -> subprocess.Popen:
    """Start an nginx master (in the foreground) on a rendered config, after `nginx -t`;
    wait until it listens on every port and has forked its workers."""
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (prefix / "tmp" / sub).mkdir(parents=True, exist_ok=True)
    argv = ["nginx", "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")]
    check = subprocess.run([*argv, "-t"], capture_output=True, text=True)
    if check.returncode != 0:
        raise RuntimeError(f"{name}: nginx -t failed:\n{check.stderr}")
    proc = CHILDREN.spawn(pinned(argv, cpus), log=prefix / "stderr.log")
    for port in ports:
        wait_for(lambda: tcp_open(port), name, proc, prefix / "stderr.log", timeout=timeout)
    wait_for(lambda: len(process_tree(proc.pid)) > 1, f"{name} workers", proc, timeout=timeout)
    return proc
