"""Opens files until "Too many open files", keeps every one of them, says so,
and waits a few seconds for fdtrack's emfile report before leaving."""
import sys
import time

kept = []
try:
    while True:
        kept.append(open("/dev/null"))  # LEAK: exhaust
except OSError as error:
    print(f"full after {len(kept)}: {error.strerror}", flush=True)
time.sleep(float(sys.argv[1]) if len(sys.argv) > 1 else 3)
