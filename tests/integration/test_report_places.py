"""Reports reach their directory whatever the program does to its process:
it becomes another user (nginx's workers, memcached -u nobody), it chroots,
it outlives the `fdtrack run` that started it, it exits right after its dump
signal (issue #10, item 5)."""

import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import CLI, LIBRARY, EXIT_EXPECTED, _environment, check_well_formed, load_report

NOBODY = 65534

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="changing user or root needs root")


@pytest.fixture
def program(build_c):
    """changes_user where nobody may read it, as a daemon's binary is: after
    the change of user, the symbolizer reads its ELF file as nobody (pytest's
    directories are root's alone)."""
    built = build_c("changes_user.c")
    public = Path(tempfile.mkdtemp(prefix="fdtrack-public-", dir="/tmp"))
    public.chmod(0o755)
    copy = public / built.path.name
    shutil.copy2(built.path, copy)
    yield type(built)(copy, built.source)
    shutil.rmtree(public, ignore_errors=True)


def preloaded(program, args, out, **env):
    environment = _environment({"LD_PRELOAD": str(LIBRARY), "FDTRACK_OUTPUT": str(out), **env}, out)
    return subprocess.run([program.path, *args], env=environment, cwd=out, capture_output=True, text=True, timeout=60)


def private_dir(path):
    path.mkdir(mode=0o700)
    return path


def leaked_lines(report, program):
    """The program's source lines that the report's leaks were opened at."""
    return {report.first_frame_in(entry, program.path).get("line") for entry in report.leaks()}


@needs_root
@pytest.mark.parametrize("how", ["setuid", "setreuid", "setresuid", "seteuid", "setfsuid"])
def test_a_process_that_becomes_nobody_writes_its_exit_report(program, tmp_path, how):
    out = private_dir(tmp_path / "reports")
    result = preloaded(program, [how, str(NOBODY)], out)
    assert result.returncode == EXIT_EXPECTED, result.stderr
    assert "could not" not in result.stderr and "cannot" not in result.stderr, result.stderr
    handed = out / f"uid-{NOBODY}"
    info = handed.lstat()
    assert stat.S_ISDIR(info.st_mode) and info.st_uid == NOBODY and stat.S_IMODE(info.st_mode) == 0o700
    (json_path,) = handed.glob("fdtrack.*.json")
    assert str(json_path) in result.stderr, result.stderr  # the notice names where it went
    report = load_report(json_path)
    check_well_formed(report.data, where=str(json_path))
    assert report["trigger"] == "exit"
    assert leaked_lines(report, program) == {program.line("LEAK", "before"), program.line("LEAK", "after")}


@needs_root
def test_fdtrack_run_collects_the_report_of_a_worker_that_became_nobody(program, tmp_path):
    out = private_dir(tmp_path / "reports")
    json_path = tmp_path / "run.json"
    result = subprocess.run([CLI, "run", "--follow-children", "--error-exitcode", "1", "--json", json_path, "--",
                             program.path, "fork-setuid", str(NOBODY)], env=_environment({}, out), cwd=out,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, result.stderr
    assert "could not" not in result.stderr, result.stderr
    worker_reports = list(tmp_path.glob("run.*.json"))
    assert len(worker_reports) == 1, result.stderr
    worker = load_report(worker_reports[0])
    assert f"pid {worker.pid}" in result.stderr, result.stderr
    assert leaked_lines(worker, program) == {program.line("LEAK", "before"), program.line("LEAK", "after")}
    # The master goes on after its worker ended, and leaks the same two.
    assert leaked_lines(load_report(json_path), program) == {program.line("LEAK", "before"), program.line("LEAK", "after")}


@needs_root
def test_a_chrooted_process_writes_its_exit_report(program, tmp_path):
    out = private_dir(tmp_path / "reports")
    jail = private_dir(tmp_path / "jail")
    result = preloaded(program, ["chroot", str(jail)], out)
    assert result.returncode == EXIT_EXPECTED, result.stderr
    assert "could not" not in result.stderr, result.stderr
    (json_path,) = out.glob("fdtrack.*.json")
    report = load_report(json_path)
    check_well_formed(report.data, where=str(json_path))
    # No /proc in the jail: fdtrack finds the open fds without it (their
    # frames keep module and address: the ELF files are outside).
    assert [entry["call"] for entry in report.leaks()] == ["eventfd", "eventfd"], report.leaks()
    assert not list(jail.iterdir()), "nothing is written inside the jail"


def test_a_program_exiting_right_after_its_dump_signal_leaves_that_report_whole(program, tmp_path):
    """The issue saw a .json.tmp left behind: the exit ended the process
    while the dump thread was writing. Many fds make that dump slow."""
    out = private_dir(tmp_path / "reports")
    for attempt in range(3):
        result = preloaded(program, ["signal-exit", "3000"], out)
        assert result.returncode == EXIT_EXPECTED, result.stderr
    names = sorted(path.name for path in out.iterdir())
    assert not [name for name in names if name.startswith(".")], names  # a temporary name: half a report
    triggers = sorted(load_report(path)["trigger"] for path in out.glob("fdtrack.*.json"))
    assert triggers == ["exit"] * 3 + ["signal"] * 3, names
    for path in out.glob("fdtrack.*.json"):
        check_well_formed(load_report(path).data, where=str(path))
        assert path.with_suffix(".txt").exists()


@needs_root
def test_a_jailed_process_that_became_nobody_finds_no_way_out_through_fdtracks_fds(program, tmp_path):
    """The review found it: an output directory that others may search, held
    across chroot and setuid, let the jailed process climb out with
    openat(fd, "../..") (valgrind's and fdtrack's own fds are hidden from
    close and fcntl, not from a dirfd). Only private directories are kept."""
    shared = Path(tempfile.mkdtemp(prefix="fdtrack-shared-out-", dir="/tmp"))  # below /tmp: searchable all the way
    try:
        shared.chmod(0o755)
        jail = private_dir(tmp_path / "jail")
        for out in (shared, private_dir(tmp_path / "private-out")):
            result = preloaded(program, ["escape", str(jail)], out)
            assert result.returncode == EXIT_EXPECTED, (out, result.stdout, result.stderr)
    finally:
        shutil.rmtree(shared, ignore_errors=True)


@needs_root
def test_workers_that_become_nobody_at_once_all_leave_their_exit_reports(program, tmp_path):
    """nginx's workers change user together: each must find uid-N whole
    (made, given to N, then renamed into place), never half made by another."""
    out = private_dir(tmp_path / "reports")
    json_path = tmp_path / "run.json"
    for attempt in range(3):
        result = subprocess.run([CLI, "run", "--follow-children", "--json", json_path, "--",
                                 program.path, "workers", str(NOBODY)], env=_environment({}, out), cwd=out,
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == EXIT_EXPECTED, result.stderr
        assert "could not" not in result.stderr and "cannot give" not in result.stderr, result.stderr
        workers = list(tmp_path.glob("run.*.json"))
        assert len(workers) == 8, (attempt, sorted(p.name for p in workers), result.stderr[-2000:])
        for report in workers:
            # and the start pipe's read end, which each worker holds
            assert leaked_lines(load_report(report), program) >= {program.line("LEAK", "before"),
                                                                  program.line("LEAK", "after")}
            report.unlink()
