"""The exit report of a CPython program is taken as its interpreter begins to
shut down; each fd open then is marked for what happened next: closed by the
shutdown ("held_until_exit": the program still referenced it) or still open
after it ("never_closed"). On every CPython the machine has."""
import json

from conftest import HERE, LIBRARY, _environment, _run, check_well_formed, python_markers, run_fdtrack

SCRIPT = HERE / "python_versions" / "held_until_exit.py"


def test_each_leak_says_whether_shutdown_closed_it(fdtrack_build, interpreter, tmp_path):
    tracked = run_fdtrack(interpreter.command(SCRIPT), tmp_root=tmp_path)
    assert tracked.returncode == 0, tracked.describe()
    report = tracked.report
    assert report is not None and report["trigger"] == "exit", tracked.describe()
    check_well_formed(report.data, "exit report")

    expected = json.loads(tracked.stdout)
    found = {kind: [fd for fd in fds if (report.fd(fd) or {}).get("at_exit") == kind]
             for kind, fds in expected.items()}
    assert found == expected, f"at_exit of the leaked fds: {found}, expected {expected}\n{tracked.describe()}"
    leaked = {fd for fds in expected.values() for fd in fds}
    assert leaked <= {entry["fd"] for entry in report.leaks()}, "both kinds are leaks"
    # Every fd of the report has a verdict; the standard streams stay open.
    assert all(entry.get("at_exit") in ("never_closed", "held_until_exit") for entry in report.fds), repr(report)
    assert {entry["at_exit"] for entry in report.fds if entry["fd"] <= 2} == {"never_closed"}

    lines = python_markers(SCRIPT, "LEAK")
    for kind, marker in (("held_until_exit", "held-socket"), ("never_closed", "never-closed")):
        entry = report.fd(expected[kind][0])
        assert any(frame["line"] == lines[marker][0] for frame in report.python_of(entry)), repr(report)


def test_a_c_program_has_no_shutdown_to_tell_apart(build_c, fdtrack_run):
    program = build_c("open.c")
    result = fdtrack_run([program.path], timeout=30)
    assert result.report is not None, result.describe()
    assert result.report.leaks(), "open.c leaks"
    assert not any("at_exit" in entry for entry in result.report.fds), repr(result.report)


def test_debug_allocators_see_no_foreign_block_at_exit(fdtrack_build, interpreter, tmp_path):
    """The exit hook's audit-hook entry was allocated before Py_Initialize
    chose the allocators; -X dev's debug allocators abort the process if
    finalization frees it, so it must have left the list (found by what
    PySys_AddAuditHook changed, on every version)."""
    tracked = run_fdtrack(interpreter.command("-X", "dev", SCRIPT), tmp_root=tmp_path)
    assert tracked.returncode == 0 and "Fatal Python error" not in tracked.stderr, tracked.describe()
    assert tracked.report is not None and tracked.report.leaks(), tracked.describe()


def test_a_fork_child_that_opened_nothing_reports_nothing(fdtrack_build, tmp_path):
    """A forked child leaving through sys.exit ran the inherited exit hook and
    wrote a report (and a stderr line) of its parent's fds."""
    code = ("import os, sys\n"
            "keep = open('/etc/hostname')\n"
            "pid = os.fork()\n"
            "if pid == 0:\n    sys.exit(0)\n"
            "os.waitpid(pid, 0)\n"
            "print(pid)\n")
    out = tmp_path / "out"
    out.mkdir()
    env = _environment({"LD_PRELOAD": str(LIBRARY), "FDTRACK_OUTPUT": str(out)}, tmp_path)
    proc, stdout, stderr = _run(["/usr/bin/python3", "-I", "-c", code], env, tmp_path, 30)
    assert proc.returncode == 0, stderr
    child = int(stdout)
    assert not list(out.glob(f"fdtrack.{child}.*")), sorted(p.name for p in out.iterdir())
    assert list(out.glob(f"fdtrack.{proc.pid}.*.json")), "the parent's own report"
