"""How long `fdtrack attach` and `fdtrack detach` stop the thread they borrow
(issue #13), and what tracking costs after an attach against the preload.

    python3 bench/attach_bench.py [BUILD_DIR] [--cycles N] [--rounds R] [--skip-overhead]

1. Stop times: `fdtrack_bench --serve 4` (four threads opening and closing
   /dev/null without pause, the main thread waiting on stdin) is attached and
   detached N times (default 50, a fresh process every 10: its first attach
   loads the library); min / median / max of the time each command says its
   thread was stopped (from the ptrace interrupt to the resume), and the
   command's whole wall time. The other threads never stop.
2. Overhead: the loops of bench/fd_bench.cpp (thread CPU time per iteration)
   in one process before and after `fdtrack attach`, and in one started under
   LD_PRELOAD, best of R rounds each; ratios against untracked. Needs the
   library's attach mode (issue #13 part B): said and skipped without it.

FDTRACK_LIB picks another library (the tests' stand-in, for part 1 alone).
Timings only: nothing fails on them.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
STOPPED = re.compile(r"was stopped for ([0-9.]+) ms")


class Server:
    """`fdtrack_bench --serve THREADS`, asked for timings line by line."""

    def __init__(self, bench, threads, env):
        self.proc = subprocess.Popen([bench, "--serve", str(threads)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=env)
        assert self.proc.stdout.readline() == "ready\n"
        self.pid = self.proc.pid

    def timings(self):
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        found = {}
        for line in self.proc.stdout:
            if line == "end\n":
                return found
            name, ns = line.rstrip("\n").split("\t")[:2]  # then the page faults
            found[name] = float(ns)
        raise RuntimeError(f"pid {self.pid} ended")

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def fdtrack(cli, command, pid, env):
    start = time.perf_counter()
    result = subprocess.run([cli, command, str(pid)], capture_output=True, text=True, env=env, timeout=60)
    wall_ms = (time.perf_counter() - start) * 1000
    if result.returncode != 0:
        raise RuntimeError(f"fdtrack {command} {pid}: {result.stderr.strip()}")
    return float(STOPPED.search(result.stdout).group(1)), wall_ms


def spread(values):
    return f"min {min(values):7.2f}  median {statistics.median(values):7.2f}  max {max(values):7.2f} ms"


def exports(library, *names):
    symbols = subprocess.run(["nm", "-D", "--defined-only", library], capture_output=True, text=True).stdout
    return all(f" {name}\n" in symbols for name in names)


def stop_times(cli, bench, library, cycles, env):
    if not exports(library, "fdtrack_attach_start", "fdtrack_detach_stop"):
        print(f"stop times: skipped, {library} cannot attach yet (no fdtrack_attach_start); FDTRACK_LIB=a library "
              "that can (the tests' stand-in, c/attach_entry.c) measures the injection alone")
        return
    # A fresh process every 10 cycles: its first attach loads the library
    # (dlopen), the later ones find it loaded.
    stopped = {"first attach": [], "attach": [], "detach": []}
    wall = {"first attach": [], "attach": [], "detach": []}
    for cycle in range(cycles):
        if cycle % 10 == 0:
            server = Server(bench, 4, env)
        try:
            for command in ("attach", "detach"):
                s, w = fdtrack(cli, command, server.pid, env)
                kind = "first attach" if command == "attach" and cycle % 10 == 0 else command
                stopped[kind].append(s)
                wall[kind].append(w)
        finally:
            if cycle % 10 == 9 or cycle == cycles - 1:
                server.stop()
    print(f"stop times, {cycles} attach+detach cycles of a process with 4 busy threads ({library})")
    for command in ("first attach", "attach", "detach"):
        print(f"  {command:12} thread stopped: {spread(stopped[command])}   (whole command: {spread(wall[command])})")


def best(rounds, measure):
    found = {}
    for _ in range(rounds):
        for name, ns in measure().items():
            found[name] = min(found.get(name, ns), ns)
    return found


def overhead(cli, bench, library, rounds, env, scratch):
    # The tests' stand-in has the attach entries but tracks nothing: the C API tells the real library.
    if not exports(library, "fdtrack_attach_start", "fdtrack_checkpoint"):
        print(f"\noverhead after attach: skipped, {library} is not a libfdtrack.so with an attach mode")
        return
    quiet = dict(env, FDTRACK_OUTPUT=scratch, FDTRACK_SIGNAL="none")
    attached = Server(bench, 0, quiet)
    preloaded = Server(bench, 0, dict(quiet, LD_PRELOAD=library, FDTRACK_EXIT_REPORT=f"{scratch}/exit"))
    try:
        untracked = best(rounds, attached.timings)
        fdtrack(cli, "attach", attached.pid, quiet)
        after_attach = best(rounds, attached.timings)
        under_preload = best(rounds, preloaded.timings)
    finally:
        attached.stop()
        preloaded.stop()
    print(f"\noverhead after attach against the preload (thread CPU time per iteration unless wall), best of {rounds}")
    print(f"{'loop':30} {'untracked':>12} {'preload':>12} {'attached':>12} {'preload':>8} {'attached':>9}")
    for name, plain in untracked.items():
        pre, att = under_preload[name], after_attach[name]
        print(f"{name:30} {plain:9.0f} ns {pre:9.0f} ns {att:9.0f} ns {pre / plain:7.2f}x {att / plain:8.2f}x")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("build", nargs="?", default=str(HERE.parent / "build"))
    parser.add_argument("--cycles", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-overhead", action="store_true")
    args = parser.parse_args()
    build = Path(args.build).resolve()
    cli, bench = str(build / "fdtrack"), str(build / "bench" / "fdtrack_bench")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FDTRACK_") or k == "FDTRACK_LIB"}
    env.pop("LD_PRELOAD", None)
    with tempfile.TemporaryDirectory(prefix="fdtrack-attach-bench-") as scratch:
        env.setdefault("FDTRACK_OUTPUT", scratch)
        library = env.get("FDTRACK_LIB") or str(build / "libfdtrack.so")
        stop_times(cli, bench, library, args.cycles, env)
        if not args.skip_overhead:
            overhead(cli, bench, library, args.rounds, env, scratch)


if __name__ == "__main__":
    sys.exit(main())
