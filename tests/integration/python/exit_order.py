"""Leaks a file, registers its own atexit handler and exits with status 3:
fdtrack's exit hook must run after the program's handler, while the leaked
file is still open, and must not change the exit status."""
import atexit
import sys

leaked = open("/etc/hostname")


def goodbye():
    print("program atexit", flush=True)


atexit.register(goodbye)
sys.exit(3)
