"""Starts untracked, loads libfdtrack.so with ctypes and attaches it as
`fdtrack attach` would, then leaks files at known lines; a dump on SIGUSR1
must name them, and the file opened before the attach as before_attach.
Usage: attach_python.py LIBFDTRACK OUTPUT_DIR"""
import ctypes
import os
import signal
import sys
import time

library_path, output = sys.argv[1], sys.argv[2]
early = open("/etc/hostname")

library = ctypes.CDLL(library_path)
message = ctypes.create_string_buffer(256)
settings = f"FDTRACK_OUTPUT={output}\n".encode()
attached = library.fdtrack_attach_start(settings, message, ctypes.c_ulong(len(message)))
assert attached == 0, (attached, message.value)

leaked = []


def leak_files():
    for _ in range(3):
        leaked.append(open("/etc/hostname"))  # LEAK: python-open


leak_files()
leaked.append(os.open("/etc/hostname", os.O_RDONLY))  # LEAK: python-os-open

os.kill(os.getpid(), signal.SIGUSR1)
for _ in range(1000):
    if any(name.endswith(".json") for name in os.listdir(output)):
        break
    time.sleep(0.01)
assert library.fdtrack_detach_stop(message, ctypes.c_ulong(len(message))) == 0, message.value
print("early", early.fileno())
