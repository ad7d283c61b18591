#!/usr/bin/env python3
"""Instructions per function hook, counted by callgrind: exact and repeatable on a noisy
machine, so an A/B of a small change shows in the count where timings cannot tell.

    python3 benches/instructions.py [--cases waf/new-query,...] [--bin target/release/hook-instructions]
                                    [--functions-dir DIR] [-n 200]

Each case runs `hook-instructions <case> N` and `... 6N` under callgrind; the difference
over 5N is the main thread's instructions per request, set-up excluded. Counts include the
host's part and the guest's compiled code, not the kernel's (page resets, syscalls).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CASES = ["pass-through/fresh", "pass-through/reused", "device-class/fresh", "device-class/reused",
         "waf/fresh", "waf/reused", "waf/new-query", "waf/new-search", "waf/new-user-agent"]


def main_thread_instructions(binary: Path, case: str, n: int, env: dict) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cg.out"
        subprocess.run(["valgrind", "--tool=callgrind", "--separate-threads=yes",
                        f"--callgrind-out-file={out}", str(binary), case, str(n)],
                       env=env, check=True, capture_output=True)
        # Thread 1 is main: the bench loop (the epoch ticker counts wall time, not work).
        text = (Path(tmp) / "cg.out-01").read_text(errors="replace")
        m = re.search(r"^summary:\s+(\d+)", text, re.M) or re.search(r"^totals:\s+(\d+)", text, re.M)
        if not m:
            raise RuntimeError(f"no totals in callgrind output for {case}")
        return int(m.group(1))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", default=",".join(CASES))
    p.add_argument("--bin", type=Path, default=REPO / "target/release/hook-instructions")
    p.add_argument("--functions-dir", type=Path, help="another build of the functions")
    p.add_argument("-n", type=int, default=200, help="requests in the short run (the long one: 6n)")
    args = p.parse_args()
    if not args.bin.exists():
        print(f"{args.bin} is missing: cargo build --release -p wedge-benches --bin hook-instructions",
              file=sys.stderr)
        return 1
    env = dict(os.environ)
    if args.functions_dir:
        env["WEDGE_FUNCTIONS_DIR"] = str(args.functions_dir.resolve())
    # A first run fills the artifact cache, so neither counted run compiles. Under
    # valgrind: its CPU reports other features than the host's, so natively compiled code
    # would not be reused.
    for case in args.cases.split(","):
        subprocess.run(["valgrind", "--tool=none", str(args.bin), case, "1"], env=env, check=True,
                       capture_output=True)
        short = main_thread_instructions(args.bin, case, args.n, env)
        long = main_thread_instructions(args.bin, case, 6 * args.n, env)
        print(f"{case:24} {(long - short) / (5 * args.n):12,.0f} instructions per request", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
