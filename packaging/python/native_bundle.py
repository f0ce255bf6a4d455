"""Copies into a wheel the native libraries its programs need beyond glibc, and points the programs
at them through $ORIGIN, as auditwheel repairs a wheel, so that it runs where libunwind, libdw, fmt
or the CLI's libraries are not installed.

Two differences from auditwheel, both because libfdtrack.so dlopen()s libraries by their soname
(libunwind.so.8 in preload/native_stack.cpp, libdw.so.1 in preload/symbolizer.cpp): the copies keep
their sonames (a hashed name would not be found), and those libraries, which no tool sees linked,
are named here.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

# glibc's own libraries and the loader: the system's must be used, and every Linux has them.
GLIBC = frozenset({
    "linux-vdso.so.1", "ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1", "libc.so.6", "libm.so.6",
    "libmvec.so.1", "libdl.so.2", "librt.so.1", "libpthread.so.0", "libresolv.so.2", "libutil.so.1",
    "libanl.so.1", "libnsl.so.1",
})

# What each program dlopen()s by soname, which ldd cannot see.
DLOPENED = {"libfdtrack.so": ("libunwind.so.8", "libdw.so.1")}

_LDD_LINE = re.compile(r"^\s*(\S+) => (\S+) \(0x[0-9a-f]+\)$")


def linked(path):
    """soname -> path of every library `path` needs, directly or not, as the loader finds them."""
    out = subprocess.run(["ldd", str(path)], capture_output=True, text=True, check=True).stdout
    found = {}
    for line in out.splitlines():
        match = _LDD_LINE.match(line)
        if match:
            found[match.group(1)] = Path(match.group(2))
        elif "not found" in line:
            raise RuntimeError(f"{path}: {line.strip()}")
    return found


def system_library(soname):
    """Where the loader's cache has `soname` (the library a dlopen of that name would load)."""
    out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        name, _, where = line.strip().partition(" => ")
        if name.split(" ", 1)[0] == soname and "x86-64" in name:
            return Path(where)
    raise RuntimeError(f"{soname} (dlopen()ed by fdtrack) is not installed; it must be, to be bundled")


def needed(program):
    """soname -> path of the libraries outside glibc that `program` links or dlopen()s, and theirs."""
    found = linked(program)
    for soname in DLOPENED.get(program.name, ()):
        path = system_library(soname)
        found[soname] = path
        found.update(linked(path))
    return {soname: path for soname, path in found.items() if soname not in GLIBC}


def set_runpath(path, runpath):
    subprocess.run(["patchelf", "--set-rpath", runpath, str(path)], check=True)


def bundle(programs, libs_dir):
    """Copies every library that `programs` need into `libs_dir` under its soname, each finding the
    others beside it, and points each program there (RUNPATH $ORIGIN/...). Returns the sonames."""
    libs_dir.mkdir(parents=True, exist_ok=True)
    copied = {}
    for program in programs:
        copied.update(needed(program))
    for soname, source in sorted(copied.items()):
        target = libs_dir / soname
        shutil.copyfile(source, target)  # the file, not the symlink: the soname is the name now
        target.chmod(0o755)
        set_runpath(target, "$ORIGIN")
    for program in programs:
        set_runpath(program, "$ORIGIN/" + os.path.relpath(libs_dir, program.parent))
    return sorted(copied)
