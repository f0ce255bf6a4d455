"""How reports read (issue 8): each headline names the user's own frame, not a
console-script launcher, the standard library or installed packages, and
--user-paths / FDTRACK_USER_PATHS say which code is the user's when the guess
is wrong, the same way in `run`, `report` and `diff`; the interpreter's own
native frames fold into one line under Python sites; the exit state of each
leak (never closed or held until exit) is shown, and --errors-for-leak-kinds
picks which of them fail a run."""

import copy
import json
import re
import subprocess
from pathlib import Path

import pytest

from conftest import CLI, HERE, checked_json

PYTHON = "/usr/bin/python3"
GATE = ("--error-exitcode", "3")

needs_python = pytest.mark.skipif(not Path(PYTHON).exists(), reason=f"{PYTHON} is missing")


def headlines(text):
    """site id -> "file:line in function" of every site heading of a text report."""
    found = {}
    for line in text.splitlines():
        match = re.match(r"^\d+ fds? (?:leaked|open) from (.+) \(.*\)\s+\[site (\d+)\]$", line)
        if match:
            found[int(match.group(2))] = match.group(1)
    return found


def fdtrack(*args, stdin=None):
    return subprocess.run([str(CLI), *map(str, args)], capture_output=True, text=True, input=stdin, timeout=60)


# ---- a launcher, a package and the user's code ---------------------------------


@pytest.fixture
def launched_app(tmp_path):
    """What pip leaves for a service: venv/bin/serve, a console script whose
    module code calls the app; app/app.py, the user's code; and mylib, an
    installed package that creates the pipe. Returns (paths, lines)."""
    venv = tmp_path / "venv"
    package = venv / "lib" / "python3.11" / "site-packages" / "mylib"
    app = tmp_path / "app"
    for directory in (venv / "bin", package, app):
        directory.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "pool.py").write_text("import os\n\n\ndef make():\n    return os.pipe()  # make\n")
    (app / "app.py").write_text(
        "from mylib import pool\n\nkept = []\n\n\ndef start():\n    kept.append(pool.make())  # start\n"
    )
    serve = venv / "bin" / "serve"
    serve.write_text(
        "import sys\n"
        f"sys.path[:0] = [{str(app)!r}, {str(package.parent)!r}]\n"
        "from app import start\n"
        "if __name__ == '__main__':\n"
        "    sys.exit(start())  # launch\n"
    )
    paths = {"venv": venv, "bin": venv / "bin", "package": package, "app": app, "serve": serve}
    lines = {"make": "pool.py:5 in make", "start": "app.py:7 in start", "launch": "serve:5 in <module>"}
    return paths, lines


def pipe_site(report):
    (site,) = {entry["site"] for entry in report.leaks()}
    return site


@needs_python
def test_the_headline_skips_the_launcher_and_the_package(fdtrack_run, launched_app):
    paths, lines = launched_app
    result = fdtrack_run([PYTHON, paths["serve"]])
    assert result.report, result.describe()
    site = pipe_site(result.report)
    assert headlines(result.stderr)[site] == lines["start"], result.stderr
    assert re.search(rf"^Summary: 2 fds leaked from 1 site( \(.*\))?; the biggest is {lines['start']}\.$", result.stderr, re.M)
    assert "user_paths" not in result.report.data, "not given: not written"


@needs_python
def test_user_paths_choose_the_users_code_and_stay_with_the_report(fdtrack_run, launched_app, tmp_path):
    paths, lines = launched_app
    # Relative, with a trailing slash: made absolute against fdtrack's directory.
    relative = paths["package"].relative_to(tmp_path)
    result = fdtrack_run([PYTHON, paths["serve"]], options=("--user-paths", f"/nowhere:{relative}/"), cwd=tmp_path)
    assert result.report, result.describe()
    site = pipe_site(result.report)
    assert headlines(result.stderr)[site] == lines["make"], result.stderr
    assert f"  user code under: /nowhere:{paths['package']}\n" in result.stderr
    assert result.report["user_paths"] == ["/nowhere", str(paths["package"])]

    # A saved report renders as it did at the end of the run...
    saved = result.report.path
    text = fdtrack("report", saved)
    assert text.returncode == 0, text.stderr
    assert headlines(text.stdout)[site] == lines["make"], text.stdout
    # ... unless told otherwise: other directories, or back to the guess.
    text = fdtrack("report", saved, "--user-paths", paths["bin"])
    assert headlines(text.stdout)[site] == lines["launch"], text.stdout
    text = fdtrack("report", saved, "--user-paths", "")
    assert headlines(text.stdout)[site] == lines["start"], text.stdout
    normalised = checked_json(fdtrack("report", saved, "--json", "--user-paths", paths["app"]).stdout)
    assert normalised["user_paths"] == [str(paths["app"])]


@needs_python
def test_fdtrack_user_paths_for_plain_preload(preload_run, launched_app):
    paths, lines = launched_app
    result = preload_run([PYTHON, paths["serve"]], env={"FDTRACK_USER_PATHS": f"{paths['package']}:"})
    assert result.report, result.describe()
    assert result.report["user_paths"] == [str(paths["package"])]
    text = fdtrack("report", result.report.path)
    assert headlines(text.stdout)[pipe_site(result.report)] == lines["make"], text.stdout


@needs_python
def test_a_relative_fdtrack_user_paths_is_refused_and_the_guess_applies(preload_run, launched_app):
    paths, lines = launched_app
    result = preload_run([PYTHON, paths["serve"]], env={"FDTRACK_USER_PATHS": "venv/lib"})
    assert 'fdtrack: ignoring malformed FDTRACK_USER_PATHS="venv/lib"' in result.stderr, result.stderr
    assert result.returncode == 0, result.describe()
    assert "user_paths" not in result.report.data
    text = fdtrack("report", result.report.path)
    assert headlines(text.stdout)[pipe_site(result.report)] == lines["start"], text.stdout


@needs_python
def test_interpreter_frames_fold_in_the_text_and_stay_in_the_json(fdtrack_run, launched_app):
    paths, _ = launched_app
    result = fdtrack_run([PYTHON, paths["serve"]])
    assert result.report, result.describe()
    frames = result.report.sites[pipe_site(result.report)]["frames"]
    interpreter = [f for f in frames if Path(f["module"]).name.startswith(("python3", "libpython3"))]
    assert len(interpreter) >= 5, frames  # the JSON keeps them all
    folds = re.findall(r"^    \.\.\. (\d+) interpreter frames \((.+)\)$", result.stderr, re.M)
    assert folds, result.stderr
    assert sum(int(n) for n, _ in folds) <= len(interpreter)
    assert not re.search(r"^    #\d+ .*_PyEval_EvalFrameDefault", result.stderr, re.M), result.stderr
    assert re.search(r"^    #\d+ .*__libc_start_main", result.stderr, re.M), "other libraries stay"


# ---- hand-written reports: exit states, diff ------------------------------------


def fd_entry(fd, site, at_exit=None):
    entry = {
        "fd": fd, "origin": "tracked", "call": "pipe2", "kind": "pipe", "target": f"pipe:[{fd}]",
        "cloexec": True, "age_s": 1.0, "tid": 10, "thread": "MainThread", "site": site, "suppressed": False,
    }
    if at_exit:
        entry["at_exit"] = at_exit
    return entry


def report_json(fds, sites, trigger="exit"):
    return {
        "schema": "fdtrack/1", "pid": 10, "program": "/usr/bin/python3.11", "argv": ["python3", "app.py"],
        "trigger": trigger, "time": "2026-11-26T22:31:05Z", "rlimit_nofile": 1024, "open_count": len(fds),
        "fds": fds, "sites": sites, "bad_closes": [],
    }


def python_site(site_id, count, file, line, function):
    return {
        "id": site_id, "count": count, "call": "pipe2", "oldest_age_s": 1.0, "newest_age_s": 1.0,
        "frames": [{"function": "_PyEval_EvalFrameDefault", "module": "/usr/bin/python3.11", "address": "0x52b9e0"}],
        "python": [{"function": function, "file": file, "line": line},
                   {"function": "<module>", "file": "/srv/venv/bin/serve", "line": 8}],
    }


def pool_report():
    """14 pipes of a module-level multiprocessing pool, closed by interpreter
    shutdown, and a raw os.pipe() pair that stayed open."""
    fds = [fd_entry(3, 1, "never_closed"), fd_entry(4, 1, "never_closed")]
    fds += [fd_entry(fd, 2, "held_until_exit") for fd in range(5, 19)]
    sites = [python_site(1, 2, "/srv/app/raw.py", 4, "leak_raw"), python_site(2, 14, "/srv/app/jobs.py", 3, "<module>")]
    return report_json(fds, sites)


def test_exit_states_are_shown_never_closed_first(tmp_path):
    path = tmp_path / "exit.json"
    path.write_text(json.dumps(pool_report()))
    result = fdtrack("report", path)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    never = text.index("Never closed: 2 fds from 1 site, still open after interpreter shutdown")
    raw = text.index("2 fds leaked from raw.py:4 in leak_raw (pipe2, pipe)  [site 1]")
    held = text.index("Held until exit: 14 fds from 1 site, closed only by interpreter shutdown")
    pool = text.index("14 fds leaked from jobs.py:3 in <module> (pipe2, pipe)  [site 2]")
    assert never < raw < held < pool, text
    assert "Summary: 16 fds leaked from 2 sites (2 never closed, 14 held until exit); the biggest is jobs.py:3" in text
    # The normalised JSON keeps the states.
    normalised = checked_json(fdtrack("report", path, "--json").stdout)
    assert [fd.get("at_exit") for fd in normalised["fds"]][:3] == ["never_closed", "never_closed", "held_until_exit"]


def test_an_unknown_exit_state_is_an_error(tmp_path):
    report = pool_report()
    report["fds"][0]["at_exit"] = "closed"
    path = tmp_path / "exit.json"
    path.write_text(json.dumps(report))
    result = fdtrack("report", path)
    assert result.returncode == 2
    assert 'fds[0].at_exit: expected "never_closed" or "held_until_exit", found "closed"' in result.stderr


def test_diff_names_the_users_frame_by_user_paths(tmp_path):
    older = report_json([fd_entry(3, 2)], [python_site(2, 1, "/srv/app/jobs.py", 3, "<module>")], "signal")
    newer = copy.deepcopy(older)
    newer["fds"] += [fd_entry(4, 2), fd_entry(5, 2)]
    newer["sites"][0]["count"] = 3
    old_path, new_path = tmp_path / "old.json", tmp_path / "new.json"
    old_path.write_text(json.dumps(older))
    new_path.write_text(json.dumps(newer))
    assert "+2 fds (1 -> 3) from jobs.py:3 in <module> (pipe2)" in fdtrack("diff", old_path, new_path).stdout
    text = fdtrack("diff", old_path, new_path, "--user-paths", "/srv/venv/bin").stdout
    assert "+2 fds (1 -> 3) from serve:8 in <module> (pipe2)" in text, text


# ---- --errors-for-leak-kinds ------------------------------------------------------


@pytest.fixture(scope="module")
def leaky(build_c):
    return build_c("../gating/leaky.c")


def test_leaks_of_a_c_program_count_as_never_closed(fdtrack_run, leaky):
    """A C program has no interpreter shutdown: its leaks were never closed
    (or their state is unknown, which counts the same)."""
    result = fdtrack_run([leaky.path], options=(*GATE, "--errors-for-leak-kinds", "never_closed"))
    assert result.returncode == 3, result.describe()
    assert "not counted for --error-exitcode" not in result.stderr
    result = fdtrack_run([leaky.path], options=(*GATE, "--errors-for-leak-kinds", "all"))
    assert result.returncode == 3, result.describe()


def test_leak_kinds_outside_the_gate_pass_and_are_said_so(fdtrack_run, leaky):
    result = fdtrack_run([leaky.path, 0, "pipe"], options=(*GATE, "--errors-for-leak-kinds", "held_until_exit"))
    assert result.returncode == 0, result.describe()
    assert "fdtrack run: 3 leaks not counted for --error-exitcode (--errors-for-leak-kinds held_until_exit)" in (
        result.stderr
    )
    assert "3 fds leaked from 2 sites" in result.stderr, "the report still shows them"
    result = fdtrack_run([leaky.path], options=(*GATE, "--errors-for-leak-kinds", "none"))
    assert result.returncode == 0, result.describe()


@pytest.mark.parametrize("kinds", ["never", "all,never_closed", "never_closed,", ""])
def test_a_bad_leak_kind_stops_the_run_before_it_starts(fdtrack_run, kinds, tmp_path):
    marker = tmp_path / "ran"
    result = fdtrack_run(["touch", marker], options=(*GATE, "--errors-for-leak-kinds", kinds))
    assert result.returncode == 2, result.describe()
    assert "--errors-for-leak-kinds" in result.stderr and "never_closed" in result.stderr, result.stderr
    assert not marker.exists()
