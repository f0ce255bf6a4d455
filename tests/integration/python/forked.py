"""Opens files in fork children, one leaving through os._exit and one through
sys.exit (which runs the inherited atexit handlers)."""
import os
import sys


def child_open():
    return open("/etc/hostname")  # LINE child_open


for how in ("_exit", "sys.exit"):
    pid = os.fork()
    if pid == 0:
        f = child_open()  # LINE <module>
        if how == "_exit":
            os._exit(0)
        sys.exit(0)
    os.waitpid(pid, 0)
