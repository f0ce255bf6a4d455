"""Opens a file without CLOEXEC and execs list_fds.py, which prints what every
fd of the new image points to; with `--drop-preload` the new image's
environment no longer preloads fdtrack."""
import os
import sys

fd = os.open("/etc/hostname", os.O_RDONLY)  # LEAK: across-exec
os.set_inheritable(fd, True)
env = dict(os.environ)
if "--drop-preload" in sys.argv:
    env.pop("LD_PRELOAD")
lister = os.path.join(os.path.dirname(os.path.abspath(__file__)), "list_fds.py")
os.execve(sys.executable, [sys.executable, "-I", lister, str(fd)], env)
