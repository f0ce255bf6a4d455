"""Real Python programs under fdtrack: every standard-library API that creates
fds is reported at the program's own line (the `# LEAK: name` marks in
python_apis/), what the program closed (`# CLOSED: name`) is not, the text
report points at the program and not at the standard library; and the example
services of examples/ are found leaking (or not) while they run, by
`fdtrack dump` and by the automatic dump at "Too many open files"."""

import json
import os
import re
import resource
import select
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import CLI, HERE, LIBRARY, SOURCE_DIR, Report, run_fdtrack, run_plain

SCRIPTS = HERE / "python_apis"
LEAKS_SCRIPT = SCRIPTS / "leaks.py"
EXAMPLES = SOURCE_DIR / "examples"

# Debian's python3 links libpython statically; pyenv's loads libpython3.11.so.
PYTHONS = [
    pytest.param(path, id=name, marks=pytest.mark.skipif(not os.path.exists(path), reason=f"{path} is absent"))
    for name, path in (("debian", "/usr/bin/python3"), ("pyenv", "/root/.pyenv/versions/3.11.7/bin/python3.11"))
]

MARK = re.compile(r"#\s*(LEAK|CLOSED|VIA)\s*:\s*([\w.+-]+)")

OPEN_CALLS = {"open", "open64", "openat", "openat64"}
# LEAK mark -> what the fds created on that line must be: [(calls, kind, how many)].
EXPECTED = {
    "open": [(OPEN_CALLS, "file", 1)],
    "os.open": [(OPEN_CALLS, "file", 1)],
    "mkstemp": [(OPEN_CALLS, "file", 1)],
    "socket": [({"socket"}, "socket", 1)],
    "socketpair": [({"socketpair"}, "socket", 2)],
    "accept": [({"accept4", "accept"}, "socket", 1)],
    "selector": [({"epoll_create1", "epoll_create"}, "epoll", 1)],
    "epoll": [({"epoll_create1", "epoll_create"}, "epoll", 1)],
    # The loop's selector and its self-pipe, made several frames down in asyncio.
    "event_loop": [({"epoll_create1", "epoll_create"}, "epoll", 1), ({"socketpair"}, "socket", 2)],
    "pipe": [({"pipe2", "pipe"}, "pipe", 2)],
    # stdin's pipe was closed; stdout's read end is the leak.
    "popen": [({"pipe2", "pipe"}, "pipe", 1)],
    "thread": [(OPEN_CALLS, "file", 1)],
    "package": [(OPEN_CALLS, "file", 1)],
}
EXIT_STATUS = 5
STDOUT = "leaks done\n"


def marks(kind):
    """name -> [(file, line)] of every `# KIND: name` in python_apis/."""
    found = {}
    for path in sorted(SCRIPTS.rglob("*.py")):
        for number, text in enumerate(path.read_text().splitlines(), start=1):
            for match in MARK.finditer(text):
                if match.group(1) == kind:
                    found.setdefault(match.group(2), []).append((str(path.resolve()), number))
    return found


def mark(kind, name):
    (where,) = marks(kind)[name]
    return where


def first_frame_in(stack, path):
    """The innermost Python frame of `stack` that lies in file `path`."""
    return next((frame for frame in stack if os.path.realpath(frame["file"]) == path), None)


def created_at(report, path, line):
    """Leaked fds whose innermost frame in `path` is on `line`."""
    found = []
    for entry in report.leaks():
        frame = first_frame_in(report.python_of(entry), path)
        if frame and frame["line"] == line:
            found.append(entry)
    return found


# ---- one leak per API -------------------------------------------------------------

_runs = {}


@pytest.fixture
def leaks_run(fdtrack_build, tmp_path_factory, python):
    """leaks.py under `fdtrack run`, once per interpreter for all the tests."""
    if python not in _runs:
        scratch = tmp_path_factory.mktemp("leaks")
        _runs[python] = run_fdtrack([python, LEAKS_SCRIPT, scratch], tmp_root=scratch, timeout=120)
    result = _runs[python]
    assert result.report is not None, result.describe()
    return result


@pytest.mark.parametrize("python", PYTHONS)
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_api_leak_is_reported_at_its_line(leaks_run, name):
    report = leaks_run.report
    path, line = mark("LEAK", name)
    found = created_at(report, path, line)
    got = sorted((entry["call"], entry["kind"]) for entry in found)
    expected = sorted((call, kind) for calls, kind, count in EXPECTED[name] for call in [None] * count)
    assert len(got) == len(expected), f"{name} at line {line}: {got}\n{leaks_run.describe()}"
    for calls, kind, count in EXPECTED[name]:
        matching = [entry for entry in found if entry["call"] in calls and entry["kind"] == kind]
        assert len(matching) == count, f"{name}: want {count} x {sorted(calls)}/{kind}, got {got}"
        for entry in matching:
            assert entry["origin"] == "tracked" and not entry["suppressed"]
            assert report.site_of(entry)["call"] == entry["call"]


@pytest.mark.parametrize("python", PYTHONS)
def test_nothing_is_reported_for_what_the_script_closed(leaks_run):
    report = leaks_run.report
    closed = {where for places in marks("CLOSED").values() for where in places}
    assert len(closed) >= 10
    for entry in report.leaks():
        stack = report.python_of(entry)
        for path in {path for path, _ in closed}:
            frame = first_frame_in(stack, path)
            assert not frame or (path, frame["line"]) not in closed, f"fd {entry['fd']} of a CLOSED line: {frame}"


@pytest.mark.parametrize("python", PYTHONS)
def test_every_leak_is_one_of_the_scripts(leaks_run):
    """No leak goes unexplained (Python's own fds are closed or not tracked),
    and every leaked fd carries a Python stack."""
    report = leaks_run.report
    expected = sum(count for shapes in EXPECTED.values() for _, _, count in shapes)
    assert len(report.leaks()) == expected, leaks_run.describe()
    for entry in report.leaks():
        assert report.python_of(entry), f"fd {entry['fd']} has no Python stack"


@pytest.mark.parametrize("python", PYTHONS)
def test_leak_below_the_script_shows_its_caller(leaks_run):
    report = leaks_run.report
    path, line = mark("LEAK", "package")
    caller_path, caller_line = mark("VIA", "package")
    (entry,) = created_at(report, path, line)
    stack = report.python_of(entry)
    assert (stack[0]["file"], stack[0]["line"], stack[0]["function"]) == (path, line, "open_journal")
    assert (stack[1]["file"], stack[1]["line"], stack[1]["function"]) == (caller_path, caller_line, "main")


@pytest.mark.parametrize("python", PYTHONS)
def test_thread_leak_is_recorded_on_its_thread(leaks_run):
    report = leaks_run.report
    (entry,) = created_at(report, *mark("LEAK", "thread"))
    assert entry["tid"] != report.pid
    assert [frame["function"] for frame in report.python_of(entry)][:2] == ["in_thread", "Thread.run"]


@pytest.mark.parametrize("python", PYTHONS)
def test_stdlib_frames_sit_above_the_script_line(leaks_run):
    """For APIs written in Python (asyncio, tempfile, subprocess, socket) the
    innermost frames are the standard library's; the script's frame follows."""
    report = leaks_run.report
    for name in ("event_loop", "mkstemp", "popen", "socketpair", "accept"):
        path, line = mark("LEAK", name)
        for entry in created_at(report, path, line):
            stack = report.python_of(entry)
            assert "/lib/python3" in stack[0]["file"], (name, stack[0])


@pytest.mark.parametrize("python", PYTHONS)
def test_text_report_names_the_scripts_line(leaks_run):
    """Each site's heading names its first frame in the user's code."""
    report = leaks_run.report
    headings = {}
    for text in leaks_run.stderr.splitlines():
        match = re.match(r"^(\d+) fds? leaked from (\S+):(\d+) in (\S+) \((.*)\)\s+\[site (\d+)\]$", text)
        if match:
            headings[int(match.group(6))] = (match.group(2), int(match.group(3)), int(match.group(1)))
    leaks_by_site = {}
    for entry in report.leaks():
        leaks_by_site.setdefault(entry["site"], []).append(entry)
    assert set(headings) == set(leaks_by_site), leaks_run.stderr
    user_files = {str(path.resolve()) for path in SCRIPTS.rglob("*.py")}
    for site_id, entries in leaks_by_site.items():
        stack = report.sites[site_id]["python"]
        user = next(frame for frame in stack if frame["file"] in user_files)
        assert headings[site_id] == (os.path.basename(user["file"]), user["line"], len(entries))
    # The event loop's fds are made in asyncio/selectors/socket, but the
    # headings point at the script.
    loop_line = mark("LEAK", "event_loop")[1]
    assert sorted(n for (f, line, n) in headings.values() if (f, line) == ("leaks.py", loop_line)) == [1, 2]


@pytest.mark.parametrize("python", PYTHONS)
def test_exit_status_and_stdout_are_the_programs(leaks_run, python, tmp_path):
    plain = run_plain([python, LEAKS_SCRIPT, tmp_path], tmp_root=tmp_path)
    assert (plain.returncode, plain.stdout) == (EXIT_STATUS, STDOUT), plain.stderr
    assert (leaks_run.returncode, leaks_run.stdout) == (EXIT_STATUS, STDOUT), leaks_run.describe()
    assert leaks_run.report["trigger"] == "exit"


# ---- the example services --------------------------------------------------------


def source_line(path, text):
    """The one line of `path` that contains `text`."""
    (number,) = [n for n, line in enumerate(Path(path).read_text().splitlines(), start=1) if text in line]
    return number


class Service:
    """An example service started on a free port, stopped on exit."""

    def __init__(self, script, python, workdir, *, preload=True, nofile=None, env=None):
        environment = {k: v for k, v in os.environ.items() if not k.startswith("FDTRACK_") and k != "LD_PRELOAD"}
        environment["FDTRACK_OUTPUT"] = str(workdir)
        if preload:
            environment["LD_PRELOAD"] = str(LIBRARY)
        environment.update(env or {})
        limit = (lambda: resource.setrlimit(resource.RLIMIT_NOFILE, nofile)) if nofile else None
        self.script = str(Path(script).resolve())
        self.workdir = Path(workdir)
        self.stderr_path = self.workdir / "service.stderr"
        self.proc = subprocess.Popen(
            [python, self.script, "--port", "0"],
            env=environment,
            cwd=workdir,
            stdout=subprocess.PIPE,
            stderr=open(self.stderr_path, "w"),
            text=True,
            preexec_fn=limit,
            start_new_session=True,
        )
        ready, _, _ = select.select([self.proc.stdout], [], [], 30)
        banner = self.proc.stdout.readline() if ready else ""
        match = re.search(r"http://\S+", banner)
        if not match:
            self.stop()
            raise AssertionError(f"no URL from {script}: {banner!r}\n{self.stderr()}")
        self.url = match.group(0)

    @property
    def pid(self):
        return self.proc.pid

    def get(self, query):
        """The response's status, or the name of the error the client saw."""
        try:
            with urllib.request.urlopen(f"{self.url}?{query}", timeout=5) as response:
                response.read()
                return response.status
        except (urllib.error.URLError, OSError) as error:
            return type(error).__name__

    def dump(self):
        proc = subprocess.run([CLI, "dump", str(self.pid), "--json"], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        return Report(json.loads(proc.stdout))

    def stderr(self):
        return self.stderr_path.read_text(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc.stdout.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def counts_by_line(report, script):
    """(line of the service's innermost frame, call) -> open fds. Several
    sites can share one line: CPython's specializing interpreter reaches the
    same call through different native paths."""
    counts = {}
    for entry in report.tracked():
        frame = first_frame_in(report.python_of(entry), script)
        if frame:
            key = (frame["line"], entry["call"])
            counts[key] = counts.get(key, 0) + 1
    return counts


REQUESTS = 20


@pytest.mark.parametrize("python", PYTHONS)
def test_leaky_service_dump_names_its_leaking_lines(fdtrack_build, python, tmp_path):
    script = EXAMPLES / "leaky_service.py"
    loop_line = source_line(script, "asyncio.new_event_loop()")
    file_line = source_line(script, 'open("/etc/os-release")')
    with Service(script, python, tmp_path) as service:
        assert [service.get(f"user{i}") for i in range(REQUESTS)] == [200] * REQUESTS, service.stderr()
        report = service.dump()
    assert report["trigger"] == "signal" and report.pid == service.pid
    counts = counts_by_line(report, service.script)
    top = sorted(counts.items(), key=lambda item: -item[1])[:3]
    assert {line for (line, _), _ in top} == {loop_line, file_line}, counts
    assert counts[(loop_line, "socketpair")] >= 2 * REQUESTS, counts
    assert counts[(loop_line, "epoll_create1")] >= REQUESTS, counts
    assert sum(n for (line, call), n in counts.items() if line == file_line and call in OPEN_CALLS) >= REQUESTS


@pytest.mark.parametrize("python", PYTHONS)
def test_fixed_service_does_not_grow(fdtrack_build, python, tmp_path):
    script = EXAMPLES / "fixed_service.py"
    with Service(script, python, tmp_path) as service:
        assert [service.get(f"user{i}") for i in range(5)] == [200] * 5, service.stderr()
        before = service.dump()
        assert [service.get(f"user{i}") for i in range(REQUESTS)] == [200] * REQUESTS, service.stderr()
        after = service.dump()
    # The listening socket, and perhaps a connection still being shut down.
    assert len(after.tracked()) <= len(before.tracked()) + 2 <= 5, after
    loop_line = source_line(script, "asyncio.new_event_loop()")
    file_line = source_line(script, 'open("/etc/os-release")')
    assert not [key for key in counts_by_line(after, service.script) if key[0] in (loop_line, file_line)]


def first_failure(statuses):
    return next((i for i, status in enumerate(statuses) if status != 200), len(statuses))


def wait_for_dump(workdir, trigger, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in sorted(Path(workdir).glob("fdtrack.*.json")):
            try:
                data = json.loads(path.read_text())
            except ValueError:
                continue  # being written
            if data.get("trigger") == trigger:
                return Report(data, path)
        time.sleep(0.2)
    return None


def emfile_run(python, workdir, nofile):
    """The leaky service under a low fd limit, untracked and tracked: the
    statuses of its requests, and the emfile dump of the tracked one."""
    script = EXAMPLES / "leaky_service.py"
    requests = 30  # 4 fds a request: the limit of 64 is reached well before
    plain_dir, tracked_dir = workdir / "plain", workdir / "tracked"
    plain_dir.mkdir()
    tracked_dir.mkdir()
    with Service(script, python, plain_dir, preload=False, nofile=nofile) as service:
        plain = [service.get(f"user{i}") for i in range(requests)]
        assert service.proc.poll() is None, service.stderr()
    with Service(script, python, tracked_dir, nofile=nofile) as service:
        tracked = [service.get(f"user{i}") for i in range(requests)]
        dump = wait_for_dump(tracked_dir, "emfile")
        alive = service.proc.poll() is None
        stderr = service.stderr()
    return plain, tracked, dump, alive, stderr, service.script


def check_emfile_run(python, tmp_path, nofile):
    """Runs emfile_run and checks what holds with and without fdtrack; returns the emfile dump."""
    script = EXAMPLES / "leaky_service.py"
    loop_line = source_line(script, "asyncio.new_event_loop()")
    plain, tracked, dump, alive, stderr, path = emfile_run(python, tmp_path, nofile)
    # Untracked, the service runs out of fds, fails those requests and lives on.
    assert 0 < first_failure(plain) < len(plain), plain
    assert "Too many open files" in stderr
    assert alive, stderr
    # fdtrack holds a few fds of its own: at most one request fewer.
    assert first_failure(tracked) >= first_failure(plain) - 1, (plain, tracked)
    assert first_failure(tracked) < len(tracked), tracked
    assert dump is not None, f"no emfile dump\n{stderr}"
    assert f"{dump.path.name[:-5]}" in stderr  # the one-line notice names the file
    assert dump["rlimit_nofile"] == nofile[0]  # the program's limit, not one lifted for the dump
    counts = counts_by_line(dump, path)
    ((top_key, top_count),) = sorted(counts.items(), key=lambda item: -item[1])[:1]
    assert top_key == (loop_line, "socketpair") and top_count >= 8, counts
    return dump


def soft_limit_only():
    """`ulimit -Sn 64`: the soft limit is low, the hard one is not."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    assert hard > 64 + 256
    return (64, hard)


@pytest.mark.parametrize("python", PYTHONS)
def test_leaky_service_dumps_itself_at_emfile(fdtrack_build, python, tmp_path):
    check_emfile_run(python, tmp_path, soft_limit_only())


@pytest.mark.parametrize("python", PYTHONS)
def test_leaky_service_dumps_itself_at_emfile_under_a_hard_limit(fdtrack_build, python, tmp_path):
    """`ulimit -n 64` / `prlimit --nofile=64` set both limits: fdtrack must
    still write the report it exists for."""
    check_emfile_run(python, tmp_path, (64, 64))


@pytest.mark.parametrize("python", PYTHONS[:1])
def test_emfile_dump_at_a_hard_limit_with_every_fd_taken(fdtrack_build, python, tmp_path):
    """Deterministic form of the case above: the program keeps all 64 fds, and
    no threshold dump runs meanwhile (its own fds would make the program fail
    a few fds early and leave the emfile dump free ones)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FDTRACK_") and k != "LD_PRELOAD"}
    env.update(LD_PRELOAD=str(LIBRARY), FDTRACK_OUTPUT=str(tmp_path), FDTRACK_THRESHOLD="100000")
    proc = subprocess.run([python, SCRIPTS / "exhaust.py", "3"], env=env, capture_output=True, text=True, timeout=60,
                          preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64)))
    assert proc.stdout.startswith("full after") and "Too many open files" in proc.stdout, proc.stdout
    dump = wait_for_dump(tmp_path, "emfile", timeout=1)
    assert dump is not None, proc.stderr
    (line,) = [line for path, line in marks("LEAK")["exhaust"]]
    assert max(counts_by_line(dump, str((SCRIPTS / "exhaust.py").resolve())).items(), key=lambda i: i[1])[0][0] == line
