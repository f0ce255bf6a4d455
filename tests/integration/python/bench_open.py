"""Times open()/close() of /dev/null from a 10-frame-deep Python stack."""
import os
import sys
import time

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100000


def loop(depth):
    if depth > 1:
        return loop(depth - 1)
    start = time.perf_counter()
    for _ in range(N):
        fd = os.open("/dev/null", os.O_RDONLY)
        os.close(fd)
    return time.perf_counter() - start


elapsed = loop(9)  # with <module>: 10 frames
print(f"{elapsed / N * 1e9:.0f} ns per open+close")
