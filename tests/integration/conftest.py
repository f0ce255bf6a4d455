"""Shared machinery of the integration tests: build the C test programs, list
the Python interpreters, run any command under fdtrack, and read the JSON
reports it leaves.

Tests find expected lines by the markers in the sources, never by number:
`/* LEAK: name */` (`# LEAK: name` in Python) marks the line whose fds must be
reported as leaked, and `/* CLOSED: name */` one whose fds were closed again
and must not be.
"""

import dataclasses
import functools
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

try:
    import jsonschema
except ImportError as error:  # a failure, not a skip: an unchecked report must not pass
    raise ImportError(
        f"{error}: the integration tests check every report against docs/report.schema.json with Debian's "
        "python3-jsonschema (scripts/setup.sh installs it; run them with /usr/bin/python3)"
    ) from error

HERE = Path(__file__).resolve().parent
SOURCE_DIR = Path(os.environ.get("FDTRACK_SOURCE_DIR", HERE.parent.parent)).resolve()
BUILD_DIR = Path(os.environ.get("FDTRACK_BUILD_DIR", SOURCE_DIR / "build")).resolve()
LIBRARY = BUILD_DIR / "libfdtrack.so"
CLI = BUILD_DIR / "fdtrack"
# What the C test programs exit with (c/check.h): fdtrack handed back their own status.
EXIT_EXPECTED = 7
C_DIR = HERE / "c"

MARKER = re.compile(r"/\*\s*(LEAK|CLOSED|BAD|OPENED)\s*:\s*([\w.+-]+)\s*\*/")
PY_MARKER = re.compile(r"#\s*(LEAK|CLOSED)\s*:\s*([\w.+-]+)")

# The interpreter list is shared with bench/python_bench.py.
sys.path.append(str(SOURCE_DIR / "bench"))
import pythons  # noqa: E402


# ---- reports ------------------------------------------------------------------

SCHEMA = SOURCE_DIR / "docs" / "report.schema.json"


@functools.cache
def schema_validator():
    """docs/report.schema.json, read and checked once per session."""
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def schema_errors(data):
    """Where `data` (a report or an `fdtrack diff --json`) breaks the schema: "path: message" lines."""
    errors = sorted(schema_validator().iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    return [f"{e.json_path}: {e.message[:300]}" for e in errors]


def check_schema(data, where=""):
    errors = schema_errors(data)
    assert not errors, f"{where or 'JSON'} does not match {SCHEMA}:\n" + "\n".join(errors[:20])


def checked_json(text, where="fdtrack's JSON output"):
    """JSON the CLI printed (`dump`, `report` or `diff` with --json), parsed and checked against the schema."""
    data = json.loads(text)
    check_schema(data, where)
    return data


class Report:
    """One parsed JSON report, checked against the schema, with look-ups by fd, site and source line."""

    def __init__(self, data, path=None):
        check_schema(data, str(path) if path else "report")
        self.data = data
        self.path = path
        self.sites = {site["id"]: site for site in data.get("sites", [])}

    def __getitem__(self, key):
        return self.data[key]

    @property
    def pid(self):
        return self.data["pid"]

    @property
    def fds(self):
        return self.data["fds"]

    def fd(self, number):
        """The entry of fd `number`, or None when it is not in the report."""
        return next((entry for entry in self.fds if entry["fd"] == number), None)

    def open_fds(self):
        return {entry["fd"] for entry in self.fds}

    def tracked(self):
        return [entry for entry in self.fds if entry["origin"] == "tracked"]

    def leaks(self):
        """What the exit report counts as leaked (SPEC: tracked, unsuppressed, above 2)."""
        return [e for e in self.fds if e["origin"] == "tracked" and not e["suppressed"] and e["fd"] > 2]

    def site_of(self, entry):
        return self.sites.get(entry["site"]) if entry.get("site") is not None else None

    def frames_of(self, entry):
        site = self.site_of(entry)
        return site["frames"] if site else []

    def python_of(self, entry):
        site = self.site_of(entry)
        return site["python"] if site else []

    def first_frame_in(self, entry, module):
        """The innermost native frame of `entry`'s site that lies in `module`, leaving out
        system-header functions inlined there (open() under _FORTIFY_SOURCE)."""
        module = os.path.realpath(module)
        return next(
            (
                f
                for f in self.frames_of(entry)
                if os.path.realpath(f.get("module", "")) == module
                and not f.get("file", "").startswith("/usr/include/")
            ),
            None,
        )

    def fds_from(self, source, line, module=None):
        """Tracked fds whose innermost frame in `module` (any frame if None) is source:line."""
        source = os.path.realpath(source)
        found = []
        for entry in self.tracked():
            frames = [self.first_frame_in(entry, module)] if module else self.frames_of(entry)
            if any(f and f.get("file") == source and f.get("line") == line for f in frames):
                found.append(entry)
        return found

    def __repr__(self):
        lines = [f"<Report pid={self.data.get('pid')} trigger={self.data.get('trigger')}>"]
        for entry in self.fds:
            where = ""
            frames = self.frames_of(entry)
            if frames:
                f = frames[0]
                where = f" at {f.get('function')} {f.get('file')}:{f.get('line')}"
            lines.append(
                f"  fd {entry['fd']} {entry['origin']} {entry.get('call')} {entry['kind']} {entry['target']}{where}"
            )
        return "\n".join(lines)


def load_report(path):
    path = Path(path)
    return Report(json.loads(path.read_text()), path)


def reports_in(directory, prefix="exit"):
    """All `<prefix>.<pid>.json` reports in `directory`, by pid."""
    found = {}
    for path in Path(directory).glob(f"{prefix}.*.json"):
        middle = path.name[len(prefix) + 1 : -len(".json")]
        if middle.isdigit():
            found[int(middle)] = load_report(path)
    return found


def check_well_formed(data, where=""):
    """docs/report.schema.json and what a schema cannot say: every fd's site
    is listed, and each site's count is the number of fds pointing at it."""
    check_schema(data, where)
    assert data["pid"] > 0 and data["rlimit_nofile"] > 0, where
    assert data["open_count"] == len(data["fds"]), where
    numbers = [entry["fd"] for entry in data["fds"]]
    assert len(numbers) == len(set(numbers)), f"{where}: an fd listed twice"
    sites = {site["id"]: site for site in data["sites"]}
    assert len(sites) == len(data["sites"]), f"{where}: a site id used twice"
    pointing = {}
    for entry in data["fds"]:
        if entry["origin"] == "tracked":
            assert entry["site"] in sites, f"{where}: fd {entry['fd']} points at missing site {entry['site']}"
            assert entry["call"] == sites[entry["site"]]["call"], f"{where}: {entry}"
            pointing[entry["site"]] = pointing.get(entry["site"], 0) + 1
    for site in data["sites"]:
        assert site["count"] == pointing.get(site["id"], 0), f"{where}: site {site['id']} count {site['count']}"
        assert site["frames"] or site["python"], f"{where}: site {site['id']} without a stack"
        for frame in site["frames"]:
            assert frame["module"], f"{where}: {frame}"


# ---- running things -------------------------------------------------------------


@dataclasses.dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str
    report: Report | None  # the exit report of the process that was started
    reports: dict  # exit reports by pid (with run_preloaded: forked and followed children too)
    dumps: list  # the fdtrack.<pid>.<seq>.json dumps written to FDTRACK_OUTPUT, in name order
    workdir: Path  # scratch directory of this run (FDTRACK_OUTPUT, TMPDIR, default cwd)

    def describe(self):
        return f"exit {self.returncode}\n--- stderr ---\n{self.stderr}\n--- report ---\n{self.report!r}"


def _environment(env, scratch):
    merged = {key: value for key, value in os.environ.items() if not key.startswith("FDTRACK_")}
    merged.pop("LD_PRELOAD", None)
    merged["TMPDIR"] = str(scratch)
    merged["FDTRACK_OUTPUT"] = str(scratch)
    merged.update(env or {})
    return merged


def _run(argv, env, cwd, timeout):
    """Runs argv in its own process group, so that a hang kills the traced
    program too, not only the `fdtrack run` in front of it."""
    proc = subprocess.Popen(
        [str(arg) for arg in argv],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        raise AssertionError(f"timed out after {timeout}s (a deadlock?): {argv}\n--- stderr ---\n{stderr}")
    return proc, stdout, stderr


def _dumps(scratch):
    return [load_report(path) for path in sorted(Path(scratch).glob("fdtrack.*.json"))]


def run_fdtrack(command, *, options=(), env=None, cwd=None, timeout=60, tmp_root=None):
    """Runs `fdtrack run [options] --json R -- command`, the real user path;
    `report` is the --json exit report."""
    scratch = Path(tempfile.mkdtemp(prefix="run-", dir=tmp_root))
    json_path = scratch / "exit.json"
    argv = [CLI, "run", *options, "--json", json_path, "--", *command]
    proc, stdout, stderr = _run(argv, _environment(env, scratch), cwd or scratch, timeout)
    report = load_report(json_path) if json_path.exists() else None
    reports = {report.pid: report} if report else {}
    return Result(proc.returncode, stdout, stderr, report, reports, _dumps(scratch), scratch)


def run_preloaded(command, *, env=None, cwd=None, timeout=60, tmp_root=None):
    """Runs `command` with plain LD_PRELOAD and FDTRACK_EXIT_REPORT (the
    protocol under `fdtrack run`): every tracked process that exits writes
    `exit.<pid>.json`, so forked children's reports are all there."""
    scratch = Path(tempfile.mkdtemp(prefix="run-", dir=tmp_root))
    full_env = _environment({"LD_PRELOAD": str(LIBRARY), "FDTRACK_EXIT_REPORT": str(scratch / "exit")}, scratch)
    full_env.update(env or {})
    proc, stdout, stderr = _run(command, full_env, cwd or scratch, timeout)
    reports = reports_in(scratch)
    return Result(proc.returncode, stdout, stderr, reports.get(proc.pid), reports, _dumps(scratch), scratch)


def run_plain(command, *, env=None, cwd=None, timeout=60, tmp_root=None):
    """Runs `command` without fdtrack, for comparisons."""
    scratch = Path(tempfile.mkdtemp(prefix="run-", dir=tmp_root))
    proc, stdout, stderr = _run(command, _environment(env, scratch), cwd or scratch, timeout)
    return Result(proc.returncode, stdout, stderr, None, {}, [], scratch)


# ---- C test programs ------------------------------------------------------------


@dataclasses.dataclass
class CProgram:
    path: Path  # the executable
    source: Path  # its source, as recorded in its debug info

    def lines(self, kind, name):
        """Source lines carrying the marker `/* KIND: name */`."""
        found = [
            number
            for number, text in enumerate(self.source.read_text().splitlines(), start=1)
            for match in MARKER.finditer(text)
            if match.group(1) == kind and match.group(2) == name
        ]
        assert found, f"{self.source.name} has no /* {kind}: {name} */ marker"
        return found

    def line(self, kind, name):
        (number,) = self.lines(kind, name)
        return number

    def markers(self, kind):
        """name -> lines of every `/* KIND: name */` marker in the source."""
        return _markers(self.source, MARKER, kind)


def _markers(path, pattern, kind):
    found = {}
    for number, text in enumerate(Path(path).read_text().splitlines(), start=1):
        for match in pattern.finditer(text):
            if match.group(1) == kind:
                found.setdefault(match.group(2), []).append(number)
    return found


def python_markers(path, kind):
    """name -> lines of every `# KIND: name` marker in the Python file `path`."""
    return _markers(path, PY_MARKER, kind)


class CompilerCache:
    """Compiles each (source, flags) once per session."""

    def __init__(self, out_dir):
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.built = {}

    def __call__(self, name, cflags=(), libs=(), shared=False):
        key = (name, tuple(cflags), tuple(libs), shared)
        if key not in self.built:
            source = (C_DIR / name).resolve()
            suffix = "-".join(re.sub(r"[^\w]", "", flag) for flag in cflags)
            # gating/leaky.c and examples/leaky.c must not overwrite each other's binary.
            folder = "" if source.parent == C_DIR.resolve() else f"{source.parent.name}-"
            stem = folder + source.stem + (f"-{suffix}" if suffix else "")
            out = self.out_dir / (f"lib{stem}.so" if shared else stem)
            cmd = ["cc", "-g", "-O0", "-Wall", "-Werror", *cflags, str(source), "-o", str(out)]
            if shared:
                cmd[1:1] = ["-shared", "-fPIC"]
            cmd += [*libs]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            assert proc.returncode == 0, f"compiling {name} failed:\n{' '.join(cmd)}\n{proc.stderr}"
            self.built[key] = CProgram(out, source)
        return self.built[key]


# ---- fixtures -----------------------------------------------------------------


def pytest_report_header(config):
    return f"fdtrack build dir: {BUILD_DIR}"


@functools.cache
def _interpreters():
    return pythons.interpreters()


def pytest_generate_tests(metafunc):
    """A test that takes `interpreter` (a pythons.Interpreter) runs once per
    CPython found, with ids like py3.12.1 and debian-3.11.2; an expected minor
    version that is not installed is a skip that says where it was looked for."""
    if "interpreter" in metafunc.fixturenames:
        metafunc.parametrize("interpreter", [
            pytest.param(found, id=found.name,
                         marks=() if found.found else pytest.mark.skip(reason=f"no interpreter at {found.path}"))
            for found in _interpreters()
        ])


@pytest.fixture(scope="session")
def fdtrack_build():
    """Fails (does not skip) when the build is missing: ctest must not pass vacuously."""
    assert LIBRARY.exists(), f"{LIBRARY} is missing; build the project first (FDTRACK_BUILD_DIR)"
    assert CLI.exists(), f"{CLI} is missing; build the project first (FDTRACK_BUILD_DIR)"
    return BUILD_DIR


@pytest.fixture(scope="session")
def session_tmp(tmp_path_factory):
    return tmp_path_factory.mktemp("fdtrack-integration")


@pytest.fixture(scope="session")
def build_c(session_tmp):
    """build_c("name.c", cflags=(), libs=(), shared=False) -> CProgram, compiled once."""
    return CompilerCache(session_tmp / "bin")


@pytest.fixture
def fdtrack_run(fdtrack_build, tmp_path):
    """fdtrack_run(command, options=(), env=None, timeout=60) -> Result via `fdtrack run`."""

    def run(command, **kwargs):
        kwargs.setdefault("tmp_root", tmp_path)
        return run_fdtrack(command, **kwargs)

    return run


@pytest.fixture
def preload_run(fdtrack_build, tmp_path):
    """preload_run(command, env=None, timeout=60) -> Result with every pid's exit report."""

    def run(command, **kwargs):
        kwargs.setdefault("tmp_root", tmp_path)
        return run_preloaded(command, **kwargs)

    return run


@pytest.fixture
def plain_run(tmp_path):
    def run(command, **kwargs):
        kwargs.setdefault("tmp_root", tmp_path)
        return run_plain(command, **kwargs)

    return run


# ---- another local user ------------------------------------------------------------


@dataclasses.dataclass
class OtherUser:
    """An unprivileged account made for the test session: what a second user
    on a shared machine can do. `run` and `popen` start commands as it."""

    name: str
    uid: int
    gid: int

    def _kwargs(self, kwargs):
        kwargs.setdefault("cwd", "/")
        return dict(kwargs, user=self.uid, group=self.gid, extra_groups=[])

    def run(self, argv, **kwargs):
        kwargs.setdefault("capture_output", True)
        kwargs.setdefault("text", True)
        kwargs.setdefault("timeout", 30)
        return subprocess.run([str(arg) for arg in argv], **self._kwargs(kwargs))

    def popen(self, argv, **kwargs):
        return subprocess.Popen([str(arg) for arg in argv], **self._kwargs(kwargs))


@pytest.fixture(scope="session")
def other_user():
    """A second local user, created for the session and removed after it; a
    visible skip where that is impossible (not root, no useradd)."""
    import pwd
    import shutil

    if os.geteuid() != 0:
        pytest.skip("needs root to create a second local user (the attacker)")
    if not shutil.which("useradd") or not shutil.which("userdel"):
        pytest.skip("useradd/userdel not found: cannot create a second local user")
    name = f"fdt{os.getpid() % 100000}"
    made = subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                          capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"useradd {name} failed: {made.stderr.strip()}")
    try:
        entry = pwd.getpwnam(name)
        yield OtherUser(name, entry.pw_uid, entry.pw_gid)
    finally:
        subprocess.run(["pkill", "-KILL", "-u", name], capture_output=True)
        subprocess.run(["userdel", name], capture_output=True)


@pytest.fixture(scope="session")
def shared_build(fdtrack_build):
    """fdtrack's CLI and library where another user can run them too: the
    build directory may sit below one only its owner may enter (a clone in
    a mktemp directory). The CLI finds the library next to itself."""
    import shutil
    import types

    path = Path(tempfile.mkdtemp(prefix="fdtrack-build-", dir="/tmp"))
    path.chmod(0o755)
    for source in (CLI, LIBRARY):
        shutil.copy2(source, path / source.name)
        (path / source.name).chmod(0o755)
    yield types.SimpleNamespace(cli=path / CLI.name, library=path / LIBRARY.name)
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def shared_tmp():
    """A world-writable sticky directory like /tmp, for this test alone (under
    /tmp, since pytest's own temp dirs are private to root)."""
    import shutil

    path = Path(tempfile.mkdtemp(prefix="fdtrack-shared-", dir="/tmp"))
    path.chmod(0o1777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def line_within(stream, timeout):
    """One line of a process's output stream, or "" when none came within
    `timeout` seconds (a reader thread: the test fails instead of hanging)."""
    found = []
    reader = threading.Thread(target=lambda: found.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return found[0] if found else ""


class LoopbackLoad:
    """Requests one after another to a line server on loopback (c/attach_server.c)
    from a thread, until stopped: every answer's count kept, and every failure."""

    def __init__(self, port):
        self.port = port
        self.answers = []
        self.failures = []
        self.running = True
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while self.running:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=10) as conn:
                    conn.sendall(b"hello\n")
                    answer = conn.makefile().readline()
                if not answer.startswith("ok "):
                    raise OSError(f"answer {answer!r}")
                self.answers.append(int(answer.split()[1]))
            except OSError as error:
                self.failures.append(repr(error))

    def served(self):
        return self.answers[-1] if self.answers else 0

    def wait_for(self, count, timeout=30):
        deadline = time.monotonic() + timeout
        while len(self.answers) < count:
            assert time.monotonic() < deadline and self.thread.is_alive(), f"{len(self.answers)} answers"
            time.sleep(0.01)

    def stop(self):
        self.running = False
        self.thread.join(30)


def signal_between_lines(argv, env, signum, out, timeout=20):
    """Starts `argv`, waits for its first line ("ready"), sends `signum`, waits
    until a text report appears in `out`, then sends a line on stdin and
    collects the rest: (process, stdout after "ready", stderr)."""
    proc = subprocess.Popen([str(arg) for arg in argv], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "ready\n"
    os.kill(proc.pid, signum)
    deadline = time.monotonic() + timeout / 2
    while not list(Path(out).glob("*.txt")) and time.monotonic() < deadline:
        time.sleep(0.05)
    stdout, stderr = proc.communicate("go\n", timeout=timeout)
    return proc, stdout, stderr


def own_fd_floor(rlimit):
    """Where fdtrack puts its own fds while the program has few (preload/track/tracker.cpp):
    just below 1024, or below the soft limit when that is lower."""
    soft = min(rlimit, 65536)
    top = soft - 64 if soft > 256 else soft - soft // 4
    return min(top, 1024 - 64)
