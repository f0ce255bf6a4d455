"""Runs pytest in this process without --fdtrack (test_packaging.py) and prints what fdtrack's
installed plugin did: whether it is registered, what it imported, whether the library is loaded."""

import sys

import pytest


class Probe:
    registered = None

    def pytest_configure(self, config):
        Probe.registered = config.pluginmanager.has_plugin("fdtrack")


status = pytest.main(["-q", "-p", "no:cacheprovider", "--strict-markers", *sys.argv[1:]], plugins=[Probe()])
with open("/proc/self/maps") as maps:
    preloaded = "libfdtrack" in maps.read()
print("status", int(status))
print("registered", Probe.registered)
print("imported", " ".join(sorted(name for name in ("ctypes", "fdtrack.pytest") if name in sys.modules)) or "-")
print("preloaded", preloaded)
