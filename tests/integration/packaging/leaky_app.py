"""A program run from an installed fdtrack wheel (test_packaging.py): leaks one file at a marked
line; with --maps it also asks fdtrack for a dump (symbolising loads libdw) and prints where the
libraries fdtrack dlopen()s, libunwind and libdw, were loaded from."""

import sys

kept = open("/etc/hostname")  # LEAK: wheel_app

if "--maps" in sys.argv:
    import fdtrack

    print("dumped", fdtrack.dump("where are the libraries"))
    with open("/proc/self/maps") as maps:
        for path in sorted({line.split()[-1] for line in maps if "libunwind" in line or "libdw" in line}):
            print("mapped", path)
