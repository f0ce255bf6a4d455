"""Eight threads open and close files and sockets while the program sends
itself SIGUSR1 20 times, and a daemon thread that leaked an fd is still doing
fd work when the main thread leaves; prints that fd's number as JSON.

Runs unchanged on every CPython from 3.8 on, tracked or not.

    python churn_signals.py [--await-dumps]

--await-dumps (tracked runs): after each signal, wait until its dump is in
$FDTRACK_OUTPUT before the next. fdtrack merges the signals that arrive while
a dump is being written into one more dump, and the first dump, which loads
the debug information, takes a good part of a second: without the wait the
count of dumps would depend on the machine's speed.
"""
import json
import os
import signal
import socket
import sys
import threading
import time

THREADS = 8
SIGNALS = 20
SPACING_S = 0.01  # a little churn between one dump and the next signal
DUMP_WAIT_S = 10
# The churn stops once the signals are sent; this bounds it if that never happens.
MAX_ROUNDS = 200_000

stop = threading.Event()
daemon_ready = threading.Event()
kept = []


def churn():
    for _ in range(MAX_ROUNDS):
        if stop.is_set():
            return
        with open("/dev/null", "rb"):
            pass
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM).close()


def daemon_work():
    kept.append(open("/etc/hostname", "rb"))  # LEAK: daemon
    daemon_ready.set()
    while True:  # still at it while the interpreter shuts down
        os.close(os.open("/dev/null", os.O_RDONLY))
        time.sleep(0.001)


def await_dump(number):
    # The .txt is renamed into place after the .json: once it is there, the
    # dump is written.
    done = os.path.join(os.environ["FDTRACK_OUTPUT"], f"fdtrack.{os.getpid()}.{number}.txt")
    deadline = time.monotonic() + DUMP_WAIT_S
    while not os.path.exists(done) and time.monotonic() < deadline:
        time.sleep(0.002)


def main():
    await_dumps = "--await-dumps" in sys.argv[1:]
    # Untracked, nobody handles SIGUSR1 and its default action would end the
    # program. Tracked, Python sees fdtrack's handler as a foreign one (None),
    # and it must stay the one that runs.
    if signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL:
        signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    threading.Thread(target=daemon_work, daemon=True).start()
    daemon_ready.wait()
    workers = [threading.Thread(target=churn) for _ in range(THREADS)]
    for worker in workers:
        worker.start()
    for number in range(1, SIGNALS + 1):
        os.kill(os.getpid(), signal.SIGUSR1)
        if await_dumps:
            await_dump(number)
        time.sleep(SPACING_S)
    stop.set()
    for worker in workers:
        worker.join()
    print(json.dumps({"daemon": kept[0].fileno(), "threads": THREADS, "signals": SIGNALS}), flush=True)


if __name__ == "__main__":
    main()
