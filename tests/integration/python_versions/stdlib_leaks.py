"""Leaks fds through eight standard-library APIs, each from a line with a
LEAK comment naming it, and prints as JSON which fd numbers each API left open.

It runs unchanged on every CPython from 3.8 on. Everything leaked stays
referenced from `kept` until the interpreter exits: CPython closes an
unreferenced file or socket by itself, and that is no leak. Which fds an API
made is read from /proc/self/fd before and after it, so an fd the API makes
that nobody expected is printed (and then looked for in the report) too."""
import asyncio
import fcntl
import json
import os
import selectors
import socket
import subprocess
import tempfile
import threading

kept = []


def open_fds():
    """The fds open now; the one os.listdir used to read the directory is
    closed again by the time fcntl asks, so it is left out."""
    listed = [int(name) for name in os.listdir("/proc/self/fd")]
    found = set()
    for fd in listed:
        try:
            fcntl.fcntl(fd, fcntl.F_GETFD)
            found.add(fd)
        except OSError:
            pass
    return found


def in_thread():
    kept.append(open("/etc/hostname", "rb"))  # LEAK: thread


def leak_popen():
    # Only stdout is piped: its read end is the one fd left in this process.
    child = subprocess.Popen(["true"], stdout=subprocess.PIPE)  # LEAK: subprocess
    child.wait()
    kept.append(child)


def leak_thread():
    worker = threading.Thread(target=in_thread)
    worker.start()
    worker.join()


def main():
    leaked = {}

    def leak(name, action):
        before = open_fds()
        action()
        leaked[name] = sorted(open_fds() - before)

    leak("open", lambda: kept.append(open("/etc/hostname")))  # LEAK: open
    leak("socket", lambda: kept.append(socket.socket()))  # LEAK: socket
    leak("selector", lambda: kept.append(selectors.DefaultSelector()))  # LEAK: selector
    leak("event_loop", lambda: kept.append(asyncio.new_event_loop()))  # LEAK: event_loop
    leak("pipe", lambda: kept.append(os.pipe()))  # LEAK: pipe
    leak("mkstemp", lambda: kept.append(tempfile.mkstemp()))  # LEAK: mkstemp
    leak("subprocess", leak_popen)
    leak("thread", leak_thread)
    # Everything leaked is still open now; an fd that something opened and
    # closed again while an API ran (seen on 3.8 at the thread step) is not.
    still = open_fds()
    leaked = {name: [fd for fd in fds if fd in still] for name, fds in leaked.items()}
    print(json.dumps(leaked, sort_keys=True), flush=True)


if __name__ == "__main__":
    main()
