"""The PEP 517 build backend of the fdtrack wheel (pyproject.toml): builds the CLI and libfdtrack.so
with CMake, lays them out inside the Python package with the native libraries they need
(native_bundle), and writes the wheel.

An in-tree backend rather than setuptools: what goes in is two prebuilt ELF files, copied
libraries and pure Python, under a platform tag that no Python extension decides; with setuptools
that is a custom build step, a bdist_wheel override for the tag and package-data rules, more code
than writing the zip, and this needs nothing but the standard library to build (offline, with
--no-isolation or without).

Layout (site-packages):
    fdtrack/*.py                  the package: C API binding, pytest plugin, `python -m fdtrack`
    fdtrack/bin/fdtrack           the CLI, which finds ../lib/libfdtrack.so as in an install prefix
    fdtrack/lib/libfdtrack.so     the preload library
    fdtrack.libs/                 libunwind, libdw and the CLI's libraries, under their sonames
    fdtrack-X.Y.Z.dist-info/      METADATA and entry_points.txt as CMake makes them for the .deb

The tag is py3-none-linux_<arch>: nothing links libpython, so one wheel fits every CPython 3.8+;
glibc's own libraries (and only those) come from the system.

Config settings (`python3 -m build -C build-dir=DIR`, `pip wheel --config-settings build-dir=DIR`):
build-dir, an existing or new CMake build directory (default build/wheel in the source tree).
"""

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import native_bundle  # noqa: E402

SOURCE = Path(__file__).resolve().parents[2]
PACKAGE = SOURCE / "integrations" / "pytest" / "fdtrack"
TAG = "py3-none-" + sysconfig.get_platform().replace("-", "_").replace(".", "_")
# Zip entries' time (1980-01-01, the zip epoch) unless SOURCE_DATE_EPOCH says otherwise: the same
# tree makes the same wheel.
ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def get_requires_for_build_wheel(config_settings=None):
    return []


def _build_dir(config_settings):
    chosen = (config_settings or {}).get("build-dir")
    return Path(chosen).resolve() if chosen else SOURCE / "build" / "wheel"


def _cmake_build(build_dir):
    """Configures `build_dir` when it is new (which also writes the dist-info files), then builds the
    CLI and the library; in a build directory that is up to date, that is a few seconds."""
    if not (build_dir / "CMakeCache.txt").exists():
        subprocess.run(["cmake", "-S", str(SOURCE), "-B", str(build_dir), "-DCMAKE_BUILD_TYPE=RelWithDebInfo",
                        "-DFDTRACK_TESTS=OFF", "-DFDTRACK_BENCH=OFF"], check=True, stdout=sys.stderr)
    subprocess.run(["cmake", "--build", str(build_dir), "--target", "fdtrack", "fdtrack_cli",
                    "-j", str(os.cpu_count() or 1)], check=True, stdout=sys.stderr)


def _metadata(build_dir):
    """The dist-info files CMake configured (integrations/CMakeLists.txt) and the version they name."""
    dist_info = build_dir / "integrations" / "dist-info"
    files = {name: (dist_info / name).read_bytes() for name in ("METADATA", "entry_points.txt")}
    version = next(line.split(":", 1)[1].strip() for line in files["METADATA"].decode().splitlines()
                   if line.startswith("Version:"))
    return version, files


def _stage(build_dir, root):
    """The wheel's tree under `root`: the package, the two programs, their libraries."""
    package = root / "fdtrack"
    shutil.copytree(PACKAGE, package, ignore=lambda _, names: [n for n in names if not n.endswith(".py")])
    programs = []
    for built, place in ((build_dir / "fdtrack", package / "bin"), (build_dir / "libfdtrack.so", package / "lib")):
        place.mkdir()
        target = place / built.name
        shutil.copyfile(built, target)
        target.chmod(0o755)
        # Debug info is for fdtrack's developers (its own frames are never shown); without it the
        # wheel is several times smaller.
        subprocess.run(["strip", "--strip-debug", str(target)], check=True)
        programs.append(target)
    native_bundle.bundle(programs, root / "fdtrack.libs")


def _hash(data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def _write_wheel(root, dist_info_files, version, wheel_path):
    dist_info = f"fdtrack-{version}.dist-info"
    dist_info_files = dict(dist_info_files)
    dist_info_files["WHEEL"] = (
        f"Wheel-Version: 1.0\nGenerator: fdtrack_wheel\nRoot-Is-Purelib: false\nTag: {TAG}\n").encode()
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    stamp = ZIP_TIME if not epoch else time.gmtime(max(int(epoch), 315532800))[:6]
    records = []
    with zipfile.ZipFile(wheel_path, "w", zipfile.ZIP_DEFLATED) as wheel:
        def add(name, data, mode):
            info = zipfile.ZipInfo(name, stamp)
            info.external_attr = (0o100000 | mode) << 16  # pip keeps the executable bit
            info.compress_type = zipfile.ZIP_DEFLATED
            wheel.writestr(info, data)
            records.append(f"{name},{_hash(data)},{len(data)}")

        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            add(path.relative_to(root).as_posix(), path.read_bytes(), path.stat().st_mode & 0o777)
        for name, data in sorted(dist_info_files.items()):
            add(f"{dist_info}/{name}", data, 0o644)
        records.append(f"{dist_info}/RECORD,,")
        wheel.writestr(zipfile.ZipInfo(f"{dist_info}/RECORD", stamp), "\n".join(records) + "\n")


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    build_dir = _build_dir(config_settings)
    _cmake_build(build_dir)
    version, dist_info_files = _metadata(build_dir)
    name = f"fdtrack-{version}-{TAG}.whl"
    with tempfile.TemporaryDirectory(prefix="fdtrack-wheel-") as staging:
        _stage(build_dir, Path(staging))
        _write_wheel(Path(staging), dist_info_files, version, Path(wheel_directory) / name)
    return name
