"""Finds and starts the fdtrack CLI for Python: the `fdtrack` command a wheel installs, `python -m
fdtrack`, and pytest's --fdtrack restart all go through here.

The wheel carries the native CLI inside this package (`fdtrack/bin/fdtrack`, with `lib/libfdtrack.so`
beside it, where the CLI looks for its library by itself); a Debian package or `cmake --install`
puts it on PATH instead.
"""

import os
import shutil
import sys
from pathlib import Path

# What `fdtrack run` takes with a value; its flags (no value) are below. `python -m fdtrack run`
# needs them to find where the options end and the Python program begins (tools/cmd_run.cpp;
# tests/integration/test_packaging.py checks this list against `fdtrack run --help`).
RUN_FLAGS = frozenset({"--gen-suppressions", "--follow-children", "--no-python", "-h", "--help"})


def find():
    """The path of the fdtrack CLI, or None: the one in this package, else the one on PATH."""
    packaged = Path(__file__).resolve().parent / "bin" / "fdtrack"
    if os.access(packaged, os.X_OK):
        return str(packaged)
    return shutil.which("fdtrack")


def exec_cli(args):
    """Replaces this process with `fdtrack ARGS...` (no Python stays between the user and the
    traced program: signals, exit status and the process tree are the CLI's own)."""
    cli = find()
    if cli is None:
        sys.exit("fdtrack: cannot find the fdtrack CLI (not in this package, not on PATH)")
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(cli, [cli, *args])


def python_run_args(args):
    """`run [OPTIONS] [--] (SCRIPT | -m MODULE | -c CODE) [ARGS...]` as the CLI's `run [OPTIONS] --
    PYTHON ...`, PYTHON being this interpreter, as `python -m memray run app.py` does."""
    options = []
    rest = list(args)
    while rest and rest[0].startswith("-") and rest[0] not in ("-m", "-c"):
        option = rest.pop(0)
        if option == "--":
            break
        options.append(option)
        if option not in RUN_FLAGS and "=" not in option and rest:
            options.append(rest.pop(0))  # its value
    if not rest:
        sys.exit("usage: python -m fdtrack run [OPTIONS] (SCRIPT | -m MODULE | -c CODE) [ARGS...]")
    return ["run", *options, "--", sys.executable, *rest]


def main():
    """The `fdtrack` console script: the native CLI, with the same arguments."""
    exec_cli(sys.argv[1:])
