"""Prints, as JSON, what every fd of this process points to (the fd listing
/proc/self/fd itself needed is left out)."""
import json
import os
import sys

fds = {}
for name in os.listdir("/proc/self/fd"):
    try:
        fds[name] = os.readlink(f"/proc/self/fd/{name}")
    except OSError:
        pass
print(json.dumps({"fds": fds, "args": sys.argv[1:]}))
