"""Python programs under libfdtrack.so: every leaked fd carries the Python stack
that opened it (checked against the '# LINE function' marks in the scripts),
and the exit report is taken before CPython's finalization closes the leaks."""
import glob
import json
import os
import re
import subprocess

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD_DIR = os.environ.get("FDTRACK_BUILD_DIR", os.path.join(HERE, "..", "..", "..", "build"))
LIBRARY = os.path.join(BUILD_DIR, "libfdtrack.so")

# Debian's python3 links libpython statically; pyenv's loads libpython3.11.so.
PYTHONS = [p for p in ("/usr/bin/python3", "/root/.pyenv/versions/3.11.7/bin/python3.11") if os.path.exists(p)]

pytestmark = pytest.mark.skipif(not os.path.exists(LIBRARY), reason="libfdtrack.so not built")


def run_tracked(python, script, tmp_path, *args):
    env = dict(os.environ, LD_PRELOAD=LIBRARY, FDTRACK_OUTPUT=str(tmp_path))
    env.pop("PYTHONPATH", None)
    result = subprocess.run([python, *args, os.path.join(HERE, script)], env=env, capture_output=True,
                            text=True, timeout=120)
    reports = {}
    for path in glob.glob(str(tmp_path / "fdtrack.*.json")):
        with open(path) as f:
            report = json.load(f)
        reports[report["pid"]] = report
    return result, reports


def exit_report(reports):
    exits = [r for r in reports.values() if r["trigger"] == "exit"]
    assert len(exits) == 1, [r["trigger"] for r in reports.values()]
    return exits[0]


def marks():
    """(file, line) -> function, from the '# LINE function' comments."""
    found = {}
    for root, _, files in os.walk(HERE):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(root, name)
                with open(path) as f:
                    for number, text in enumerate(f, 1):
                        m = re.search(r"# LINE (\S+)", text)
                        if m:
                            found[(path, number)] = m.group(1)
    return found


def leaked_stacks(report):
    """target -> Python stack of the site that opened it, for leaked fds."""
    sites = {s["id"]: s for s in report["sites"]}
    return {fd["target"]: sites[fd["site"]]["python"] for fd in report["fds"]
            if fd["origin"] == "tracked" and fd["site"] is not None and fd["fd"] > 2}


@pytest.mark.parametrize("python", PYTHONS)
def test_stacks_match_source_lines(python, tmp_path):
    result, reports = run_tracked(python, "nested.py", tmp_path)
    assert result.returncode == 0, result.stderr
    stacks = leaked_stacks(exit_report(reports))
    expected_names = {
        "/etc/hostname": ["inner", "middle", "main", "<module>"],
        "/dev/null": ["Holder.method", "main", "<module>"],
        "/etc/passwd": ["open_from_package", "main", "<module>"],
        "/etc/hosts": ["main.<locals>.<genexpr>", "main", "<module>"],
    }
    for target, names in expected_names.items():
        assert [f["function"] for f in stacks[target]] == names, target
    sockets = [stack for target, stack in stacks.items() if target.startswith("tcp")]
    assert len(sockets) == 1
    assert "in_thread" in [f["function"] for f in sockets[0]]

    source_marks = marks()
    checked = 0
    for stack in stacks.values():
        for frame in stack:
            if frame["file"].startswith(HERE):
                mark = source_marks.get((frame["file"], frame["line"]))
                assert mark is not None and frame["function"].endswith(mark), frame
                checked += 1
    assert checked >= 13


@pytest.mark.parametrize("python", PYTHONS)
@pytest.mark.parametrize("dev_mode", [False, True], ids=["default", "dev-mode"])
def test_exit_report_sees_leaks_before_finalization(python, dev_mode, tmp_path):
    # -X dev switches to the debug allocators, which abort on a block freed by
    # the wrong allocator: the audit hook entry must not be freed by Python.
    args = ["-X", "dev"] if dev_mode else []
    result, reports = run_tracked(python, "exit_order.py", tmp_path, *args)
    assert result.returncode == 3, result.stderr
    assert result.stdout == "program atexit\n"
    assert "Fatal Python error" not in result.stderr
    assert "Traceback" not in result.stderr
    stacks = leaked_stacks(exit_report(reports))
    assert [(f["function"], f["line"]) for f in stacks["/etc/hostname"]] == [("<module>", 7)]


@pytest.mark.parametrize("python", PYTHONS)
def test_daemon_threads_during_finalization(python, tmp_path):
    for _ in range(5):
        result, reports = run_tracked(python, "daemon_threads.py", tmp_path, "-X", "dev")
        assert result.returncode == 0, result.stderr
        assert "Fatal Python error" not in result.stderr
        exit_report(reports)
        for path in glob.glob(str(tmp_path / "fdtrack.*")):
            os.unlink(path)


@pytest.mark.parametrize("python", PYTHONS)
def test_fork_child_reports_its_own_stack(python, tmp_path):
    result, reports = run_tracked(python, "forked.py", tmp_path)
    assert result.returncode == 0, result.stderr
    # Only the child leaving through sys.exit runs atexit handlers.
    stacks = [leaked_stacks(r)["/etc/hostname"] for r in reports.values() if "/etc/hostname" in leaked_stacks(r)]
    assert len(stacks) == 1
    assert [(f["function"], f["line"]) for f in stacks[0]] == [("child_open", 8), ("<module>", 14)]


@pytest.mark.parametrize("python", PYTHONS)
def test_sub_interpreter_is_attributed_to_main_frames(python, tmp_path):
    result, reports = run_tracked(python, "subinterpreter.py", tmp_path)
    assert result.returncode == 0, result.stderr
    report = exit_report(reports)
    sites = {s["id"]: s for s in report["sites"]}
    lines = sorted(sites[fd["site"]]["python"][0]["line"] for fd in report["fds"]
                   if fd["target"] == "/etc/hostname" and fd["site"] is not None)
    # The fd opened inside the sub-interpreter shows the main interpreter's
    # run_string() call; the one opened by the main program, its own line.
    assert lines == [7, 9]
