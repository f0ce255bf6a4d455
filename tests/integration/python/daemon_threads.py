"""Daemon threads keep opening files while the main thread exits, so hooks run
during Py_FinalizeEx, after the daemon threads' states are freed."""
import os
import threading


def spin():
    while True:
        fd = os.open("/dev/null", os.O_RDONLY)
        os.close(fd)


for _ in range(4):
    threading.Thread(target=spin, daemon=True).start()
for _ in range(2000):
    with open("/dev/null"):
        pass
