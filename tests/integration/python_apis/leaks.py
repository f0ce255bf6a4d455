"""Leaks one fd (or one group of fds) through each Python API that creates
them, from a line marked `# LEAK: name`, closes what `# CLOSED: name` lines
opened, prints a fixed line and leaves with status 5.

Everything leaked stays referenced from `kept`: CPython would otherwise
close an unreferenced file or socket by itself, and that is no leak."""
import asyncio
import os
import select
import selectors
import socket
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pkg import journal  # noqa: E402

kept = []


def files(scratch):
    kept.append(open("/etc/hostname"))  # LEAK: open
    kept.append(os.open("/etc/hosts", os.O_RDONLY))  # LEAK: os.open
    kept.append(tempfile.mkstemp(dir=scratch))  # LEAK: mkstemp
    with open("/etc/passwd") as f:  # CLOSED: open
        f.read()
    os.close(os.open("/etc/passwd", os.O_RDONLY))  # CLOSED: os.open
    fd, path = tempfile.mkstemp(dir=scratch)  # CLOSED: mkstemp
    os.close(fd)
    os.unlink(path)


def sockets():
    kept.append(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))  # LEAK: socket
    kept.append(socket.socketpair())  # LEAK: socketpair
    server = socket.create_server(("127.0.0.1", 0))  # CLOSED: listener
    client = socket.create_connection(server.getsockname())  # CLOSED: client
    kept.append(server.accept())  # LEAK: accept
    client.close()
    server.close()
    socket.socket().close()  # CLOSED: socket
    a, b = socket.socketpair()  # CLOSED: socketpair
    a.close()
    b.close()


def pollers():
    kept.append(selectors.DefaultSelector())  # LEAK: selector
    kept.append(select.epoll())  # LEAK: epoll
    kept.append(asyncio.new_event_loop())  # LEAK: event_loop
    with selectors.DefaultSelector():  # CLOSED: selector
        pass
    select.epoll().close()  # CLOSED: epoll
    loop = asyncio.new_event_loop()  # CLOSED: event_loop
    loop.run_until_complete(asyncio.sleep(0))
    loop.close()


def pipes():
    kept.append(os.pipe())  # LEAK: pipe
    r, w = os.pipe()  # CLOSED: pipe
    os.close(r)
    os.close(w)


def child_process():
    # The child is started with vfork and closes every fd it does not pass on
    # (close_range) before exec; that must not erase the parent's records.
    child = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)  # LEAK: popen
    child.stdin.write(b"echo\n")
    child.stdin.close()
    child.wait()
    kept.append(child)  # its stdout pipe is never closed
    with subprocess.Popen(["true"], stdout=subprocess.PIPE) as done:  # CLOSED: popen
        done.communicate()


def in_thread():
    kept.append(open("/etc/hostname", "rb"))  # LEAK: thread


def main(scratch):
    files(scratch)
    sockets()
    pollers()
    pipes()
    child_process()
    worker = threading.Thread(target=in_thread)
    worker.start()
    worker.join()
    kept.append(journal.open_journal(os.path.join(scratch, "journal")))  # VIA: package
    print("leaks done", flush=True)
    sys.exit(5)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else tempfile.gettempdir())
