"""Overhead of fdtrack on Python fd loops: each loop of python_loops.py runs
untracked and under LD_PRELOAD=libfdtrack.so (Python frames on), best of N
rounds each, and the table shows the ratio (issue #3 target: <= 1.3x).

    python3 bench/python_bench.py [LIBRARY] [--rounds N] [--iterations N] [--python PATH]

LIBRARY defaults to ../build/libfdtrack.so next to this script. Reports the
tracked runs write go to a temporary directory that is removed afterwards.
"""
import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
LOOPS = ("open", "socket", "pipe")
TARGET = 1.3


def loop_seconds(python, loop, iterations, env):
    out = subprocess.run([python, str(HERE / "python_loops.py"), loop, str(iterations)], env=env,
                         capture_output=True, text=True, check=True).stdout
    return float(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("library", nargs="?", default=str(HERE.parent / "build" / "libfdtrack.so"))
    parser.add_argument("--rounds", type=int, default=5, help="best of this many runs per loop and mode")
    parser.add_argument("--iterations", type=int, default=100_000)
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args()
    library = Path(args.library).resolve()
    if not library.exists():
        sys.exit(f"python_bench: {library} does not exist (build it, or pass its path)")

    plain = {k: v for k, v in os.environ.items() if not k.startswith("FDTRACK_") and k != "LD_PRELOAD"}
    with tempfile.TemporaryDirectory(prefix="fdtrack-bench-") as scratch:
        tracked = dict(plain, LD_PRELOAD=str(library), FDTRACK_OUTPUT=scratch,
                       FDTRACK_EXIT_REPORT=os.path.join(scratch, "exit"))
        print(f"{args.python}, {args.iterations} iterations, best of {args.rounds}; {library}")
        print(f"{'loop':<8} {'untracked':>12} {'tracked':>12} {'ratio':>7}")
        worst = 0.0
        for loop in LOOPS:
            # Alternate the modes so that a busy moment of the machine hits both.
            untracked_best = tracked_best = float("inf")
            for _ in range(args.rounds):
                untracked_best = min(untracked_best, loop_seconds(args.python, loop, args.iterations, plain))
                tracked_best = min(tracked_best, loop_seconds(args.python, loop, args.iterations, tracked))
            ratio = tracked_best / untracked_best
            worst = max(worst, ratio)
            per_call = 1e9 / args.iterations
            print(f"{loop:<8} {untracked_best * per_call:>9.0f} ns {tracked_best * per_call:>9.0f} ns {ratio:>6.2f}x")
    print(f"worst ratio {worst:.2f}x (target <= {TARGET}x)")


if __name__ == "__main__":
    main()
