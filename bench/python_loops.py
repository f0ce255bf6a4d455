"""The Python side of python_bench.py: runs one fd loop and prints the CPU
seconds it took (time.process_time, so waiting for a core does not count).

    python3 python_loops.py {open,socket,pipe} ITERATIONS
"""
import os
import socket
import sys
import time


def open_close(iterations):
    for _ in range(iterations):
        open("/dev/null", "rb").close()


def socket_close(iterations):
    for _ in range(iterations):
        socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()


def pipe_close(iterations):
    for _ in range(iterations):
        r, w = os.pipe()
        os.close(r)
        os.close(w)


LOOPS = {"open": open_close, "socket": socket_close, "pipe": pipe_close}


def main():
    loop, iterations = LOOPS[sys.argv[1]], int(sys.argv[2])
    loop(min(iterations, 1000))  # warm up: imports, the interpreter's specializations, first hooks
    start = time.process_time()
    loop(iterations)
    print(time.process_time() - start)


if __name__ == "__main__":
    main()
