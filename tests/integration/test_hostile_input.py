"""Hostile input (issue #9, rows 13-15 and the smaller ones): names chosen by a
traced program are escaped in every text output, as lsof and ls do, while
the JSON keeps them exact; report and suppression files from anyone (deep,
huge, endless, a FIFO, numbers out of range) get one clear error naming the
file, and never a crash, a hang or unbounded memory; FDTRACK_SUPPRESSIONS
naming a directory, FIFO or device costs the host nothing but one line."""
import json
import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from conftest import CLI, LIBRARY, _environment, _run, load_report

PYTHON = "/usr/bin/python3"
# Clears the screen, then forges the last line of a clean report.
EVIL = "\x1b[2J\nFAKE fdtrack: No leaks."
ESCAPED = "\\e[2J\\nFAKE fdtrack: No leaks."


def fdtrack(*args, timeout=20):
    return subprocess.run([str(CLI), *map(str, args)], capture_output=True, timeout=timeout)


def assert_safe_to_print(text, where):
    """No escape reaches the terminal and no line is forged."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    assert "\x1b" not in text and "\x07" not in text, f"{where}: raw escape in\n{text!r}"
    forged = [line for line in text.splitlines() if line.startswith("FAKE")]
    assert not forged, f"{where}: forged line {forged!r} in\n{text!r}"


# ---- names chosen by the traced program --------------------------------------------------


def test_a_c_programs_hostile_names_are_escaped_in_run_and_its_summary(build_c, fdtrack_run, tmp_path):
    """A followed child named like the escape leaks a file named like it: the
    exit report `fdtrack run` prints, its last summary line and `fdtrack
    report` show them escaped, the JSON exactly."""
    leaker = build_c("leak_named.c")
    hostile_program = tmp_path / f"leaker{EVIL}"
    shutil.copy(leaker.path, hostile_program)
    hostile_file = tmp_path / EVIL
    parent = "import subprocess, sys; sys.exit(subprocess.run(sys.argv[1:]).returncode)"
    result = fdtrack_run([PYTHON, "-c", parent, hostile_program, hostile_file], options=("--follow-children",))
    assert result.returncode == 0, result.describe()
    assert_safe_to_print(result.stderr, "fdtrack run")
    assert f"/leaker{ESCAPED}" in result.stderr, result.stderr  # the child's header and the summary
    assert f"  {tmp_path}/{ESCAPED}  " in result.stderr, result.stderr  # the leaked file's line
    summary = result.stderr.strip().splitlines()[-1]
    assert summary.startswith("fdtrack: 2 processes, 1 leak in 1 child") and ESCAPED in summary, summary


def test_a_python_programs_hostile_names_are_escaped_in_the_txt_and_report(build_c, fdtrack_build, tmp_path):
    """Plain LD_PRELOAD: a script at a hostile path, a function renamed with
    escapes and a leaked file named like EVIL. The .txt written at exit, the
    stderr line that points at it and `fdtrack report` of its .json are safe;
    the .json holds every name exactly."""
    script_dir = tmp_path / "app\x1b[31m"
    script_dir.mkdir()
    script = script_dir / "leaky\n.py"
    script.write_text(
        "import sys\n"
        "def opener(name):\n"
        "    return open(name, 'w')\n"
        "opener.__code__ = opener.__code__.replace(co_name='\\x1b]0;owned\\x07', co_qualname='\\x1b]0;owned\\x07')\n"
        "kept = opener(sys.argv[1])\n"
    )
    hostile_file = tmp_path / EVIL
    out = tmp_path / "out"
    out.mkdir()
    env = _environment({"LD_PRELOAD": str(LIBRARY), "FDTRACK_OUTPUT": str(out)}, tmp_path)
    proc, stdout, stderr = _run([PYTHON, "-I", script, hostile_file], env, tmp_path, 60)
    assert proc.returncode == 0, stderr
    assert_safe_to_print(stderr, "the library's stderr line")

    (json_path,) = out.glob("fdtrack.*.json")
    report = load_report(json_path)
    (leak,) = [e for e in report.leaks() if e["target"] == str(hostile_file)]
    assert report.python_of(leak)[0]["function"].startswith("\x1b]0;owned\x07"), repr(report)
    assert any(f["file"] == str(script) for f in report.python_of(leak)), repr(report)
    assert str(hostile_file) in report["argv"], report["argv"]

    txt = json_path.with_suffix(".txt").read_bytes()
    assert_safe_to_print(txt, ".txt")
    rendered = fdtrack("report", json_path)
    assert rendered.returncode == 0, rendered.stderr
    assert_safe_to_print(rendered.stdout, "fdtrack report")
    for text in (txt.decode(), rendered.stdout.decode()):
        assert f"  {tmp_path}/{ESCAPED}  " in text, text
        assert "leaky\\n.py:3 in \\e]0;owned\\x07" in text, text
        assert f"command: {PYTHON} -I {script_dir}".replace("\x1b", "\\e") in text, text


# ---- report files from anyone ------------------------------------------------------------

GOOD = {
    "schema": "fdtrack/1", "pid": 1, "program": "/bin/true", "argv": ["true"], "trigger": "signal",
    "time": "2026-11-26T22:31:05Z", "rlimit_nofile": 1024, "open_count": 1,
    "fds": [{"fd": 5, "origin": "tracked", "call": "openat", "kind": "file", "target": "/tmp/x", "cloexec": False,
             "age_s": 1.5, "tid": 1, "thread": "t", "site": 1, "suppressed": False}],
    "sites": [{"id": 1, "count": 1, "call": "openat", "python": [],
               "frames": [{"function": "leak", "file": "/src/a.c", "line": 3, "module": "/bin/a", "address": "0x1"}]}],
    "bad_closes": [],
}


def with_changes(change):
    report = json.loads(json.dumps(GOOD))
    change(report)
    return json.dumps(report)


HOSTILE_REPORTS = {
    # row 14: printing the error recursed 100k deep (exit 139)
    "deep": ('{"schema": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested more than 64 levels deep"),
    # row 14: echoed whole
    "huge-string": (json.dumps({"schema": "x" * 10_000_000}), "(10000002 bytes)"),
    "1e400": (json.dumps(GOOD).replace('"open_count": 1', '"open_count": 1e400'), "number overflow parsing '1e400'"),
    "age-1e308": (with_changes(lambda r: r["fds"][0].update(age_s=1e308)), "fds[0].age_s: 1e+308 is out of range"),
    "fd-minus-5": (with_changes(lambda r: r["fds"][0].update(fd=-5)), "fds[0].fd: -5 is out of range"),
    "count-minus-2": (with_changes(lambda r: r["sites"][0].update(count=-2)), "sites[0].count: -2 is out of range"),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE_REPORTS))
def test_report_and_diff_refuse_hostile_reports_in_one_line(fdtrack_build, tmp_path, kind):
    text, expected = HOSTILE_REPORTS[kind]
    bad = tmp_path / f"{kind}.json"
    bad.write_text(text)
    good = tmp_path / "good.json"
    good.write_text(json.dumps(GOOD))
    assert fdtrack("report", good).returncode == 0
    for args in (("report", bad), ("report", bad, "--json"), ("diff", bad, good), ("diff", good, bad)):
        result = fdtrack(*args)
        stderr = result.stderr.decode()
        assert result.returncode == 2, f"{args}: exit {result.returncode}\n{stderr[:2000]}"
        lines = stderr.splitlines()
        assert len(lines) == 1 and str(bad) in lines[0] and expected in lines[0], f"{args}: {stderr[:2000]}"
        assert len(lines[0]) < 400, f"{args}: a message of {len(lines[0])} bytes"
        assert result.stdout == b"", args


def _fifo(tmp_path):
    path = tmp_path / "report.fifo"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("what", ["/dev/zero", "fifo", "directory"])
def test_report_and_diff_read_only_regular_files(fdtrack_build, tmp_path, what):
    """Row 15: /dev/zero grew the CLI without bound; a FIFO nobody writes to
    hung it. Both are refused at once, before anything is read."""
    path = {"/dev/zero": Path("/dev/zero"), "fifo": None, "directory": tmp_path}[what] or _fifo(tmp_path)
    expected = {"/dev/zero": "a character device", "fifo": "a FIFO", "directory": "a directory"}[what]
    good = tmp_path / "good.json"
    good.write_text(json.dumps(GOOD))
    for args in (("report", path), ("diff", path, good), ("diff", good, path)):
        result = fdtrack(*args, timeout=10)
        stderr = result.stderr.decode()
        assert result.returncode == 2, f"{args}: exit {result.returncode}\n{stderr[:2000]}"
        assert stderr == f"fdtrack {args[0]}: {path}: cannot read the report: it is {expected}" + (
            ", not a regular file\n" if what != "directory" else "\n"), stderr


def test_diff_sums_large_counts_without_overflow(fdtrack_build, tmp_path):
    """Two sites with one stack, each at 2^31-1: the sum wrapped to '+8 fds (-2 -> 6)'."""
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(json.dumps(GOOD))
    site = GOOD["sites"][0]
    twin = dict(site, id=2, count=2147483647, frames=[dict(site["frames"][0], address="0x2")])
    new.write_text(with_changes(lambda r: r.update(sites=[dict(site, count=2147483647), twin])))
    result = fdtrack("diff", old, new)
    assert result.returncode == 0, result.stderr
    assert b"+4294967293 fds (1 -> 4294967294) from a.c:3 in leak (openat)" in result.stdout, result.stdout


# ---- suppression files -----------------------------------------------------------------------


@pytest.mark.parametrize("what", ["/dev/zero", "fifo", "directory"])
def test_report_suppressions_must_be_a_regular_file(fdtrack_build, tmp_path, what):
    """`report --suppressions DIR` said 'basic_filebuf::underflow'."""
    path = {"/dev/zero": Path("/dev/zero"), "fifo": None, "directory": tmp_path}[what] or _fifo(tmp_path)
    good = tmp_path / "good.json"
    good.write_text(json.dumps(GOOD))
    result = fdtrack("report", good, "--suppressions", path, timeout=10)
    stderr = result.stderr.decode()
    assert result.returncode == 2, stderr
    assert stderr.startswith(f"fdtrack: {path}: cannot read the suppressions file: it is a"), stderr
    assert len(stderr.splitlines()) == 1 and "basic_filebuf" not in stderr, stderr


@pytest.mark.parametrize("what", ["/dev/zero", "fifo", "directory"])
def test_library_suppressions_that_are_no_file_cost_one_line(build_c, fdtrack_build, tmp_path, what):
    """Row 10: FDTRACK_SUPPRESSIONS=/tmp aborted the host (std::__ios_failure,
    exit 134 instead of its own 7), a FIFO hung it at its exit report, /dev/zero
    grew it until bad_alloc. Now: one line, no rule, the host's own status."""
    path = {"/dev/zero": Path("/dev/zero"), "fifo": None, "directory": tmp_path}[what] or _fifo(tmp_path)
    leaker = build_c("leak_named.c")
    out = tmp_path / "out"
    out.mkdir()
    if what == "fifo":
        # A writer that would feed the FIFO for ever, if it were ever opened for reading.
        feeder = threading.Thread(target=lambda: _feed(path), daemon=True)
        feeder.start()
    env = _environment({"LD_PRELOAD": str(LIBRARY), "FDTRACK_OUTPUT": str(out), "FDTRACK_SUPPRESSIONS": str(path)},
                       tmp_path)
    proc, stdout, stderr = _run([leaker.path, tmp_path / "leaked", "7"], env, tmp_path, 20)
    assert proc.returncode == 7, stderr
    if what == "fifo":
        os.close(os.open(path, os.O_RDONLY | os.O_NONBLOCK))  # lets the feeder go
    said = [line for line in stderr.splitlines() if line.startswith("fdtrack: FDTRACK_SUPPRESSIONS")]
    assert len(said) == 1 and "terminate" not in stderr, stderr
    assert said[0].startswith(f"fdtrack: FDTRACK_SUPPRESSIONS: {path}: cannot read the suppressions file: it is a")
    assert said[0].endswith("; no suppressions apply"), said
    (json_path,) = out.glob("fdtrack.*.json")
    (leak,) = load_report(json_path).leaks()
    assert leak["target"] == str(tmp_path / "leaked") and not leak["suppressed"]


def _feed(path):
    try:
        fd = os.open(path, os.O_WRONLY)  # blocks until a reader opens it
        while True:
            os.write(fd, b"suppress: x\n  call: *\n" * 1000)
    except OSError:
        pass


# ---- the smaller ones ----------------------------------------------------------------------------


def test_dump_timeout_must_be_a_number(fdtrack_build):
    result = fdtrack("dump", os.getpid(), "--timeout", "nan")
    assert result.returncode == 2 and b"--timeout" in result.stderr, result.stderr
