"""Finds the CPython interpreters that fdtrack is tested and measured on: each
pyenv CPython from 3.8 on, and Debian's /usr/bin/python3.

The integration tests (tests/integration/conftest.py) and python_bench.py
both take their list from here, so the benchmark measures what the tests run.
A minor version that machines of this kind always have (issue #8) and that is
not found is listed as missing, with the path looked for, instead of being
left out: a test suite that quietly ran on fewer versions would look greener
than it is.
"""
import dataclasses
import os
import re
import shutil
import subprocess
from pathlib import Path

# Every machine of this kind has these (pyenv versions); missing is news.
EXPECTED_MINORS = ((3, 8), (3, 9), (3, 10), (3, 11), (3, 12), (3, 13))
# Used when installed, not missed when not.
OPTIONAL_MINORS = ((3, 14),)
DEBIAN = Path("/usr/bin/python3")


@dataclasses.dataclass(frozen=True)
class Interpreter:
    name: str  # "py3.12.1", "debian-3.11.2"; "py3.12" or "debian" when missing
    path: Path  # the binary; when missing, what was looked for (may hold a *)
    version: tuple  # (3, 12, 1); () when missing

    @property
    def found(self):
        return bool(self.version)

    @property
    def minor(self):
        return self.version[:2]

    def command(self, *args):
        """argv that runs this interpreter isolated (-I): PYTHON* variables
        such as a PYTHONPATH set for the test runner are ignored, and neither
        the user's site-packages nor the script's folder is on sys.path."""
        return [str(self.path), "-I", *map(str, args)]


def pyenv_root():
    """Where pyenv keeps its versions: what `pyenv root` says, else
    $PYENV_ROOT, else ~/.pyenv."""
    pyenv = shutil.which("pyenv")
    if pyenv:
        try:
            said = subprocess.run([pyenv, "root"], capture_output=True, text=True, timeout=20)
            if said.returncode == 0 and said.stdout.strip():
                return Path(said.stdout.strip())
        except (OSError, subprocess.TimeoutExpired):
            pass
    return Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")


def _pyenv_builds(root, minor):
    """The pyenv CPython builds of one minor version, oldest patch first.
    Only plain X.Y.Z folders: not -dev, free-threaded (t) or other
    implementations, whose layouts are not the ones fdtrack reads."""
    pattern = re.compile(rf"^{minor[0]}\.{minor[1]}\.(\d+)$")
    found = []
    versions = root / "versions"
    for entry in sorted(versions.iterdir()) if versions.is_dir() else ():
        match = pattern.match(entry.name)
        binary = entry / "bin" / f"python{minor[0]}.{minor[1]}"
        if match and os.access(binary, os.X_OK):
            found.append(Interpreter(f"py{entry.name}", binary, (*minor, int(match.group(1)))))
    return sorted(found, key=lambda interpreter: interpreter.version)


def version_of(binary):
    """(3, 11, 2) for the interpreter at `binary`; () if it does not run."""
    try:
        said = subprocess.run([str(binary), "-I", "-c", "import sys; print(*sys.version_info[:3])"],
                              capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return ()
    return tuple(int(part) for part in said.stdout.split()) if said.returncode == 0 else ()


def interpreters():
    """Every interpreter to test, missing expected ones included (found is False)."""
    root = pyenv_root()
    listed = []
    for minor in EXPECTED_MINORS + OPTIONAL_MINORS:
        builds = _pyenv_builds(root, minor)
        if not builds and minor in EXPECTED_MINORS:
            dotted = f"{minor[0]}.{minor[1]}"
            builds = [Interpreter(f"py{dotted}", root / "versions" / f"{dotted}.*" / "bin" / f"python{dotted}", ())]
        listed += builds
    version = version_of(DEBIAN)
    name = "debian-" + ".".join(map(str, version)) if version else "debian"
    listed.append(Interpreter(name, DEBIAN, version))
    return listed
