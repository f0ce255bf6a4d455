"""The same Python programs under fdtrack on every CPython the machine has
(bench/pythons.py: each pyenv CPython from 3.8 on, and Debian's python3):
the exit report names every leak line and every leaked fd of a standard
library script, eight churning threads with 20 dump signals and a daemon
thread alive at exit leave the program's status and output as they were, and
fdtrack takes none of the program's fd numbers.

What a user sees differs by version only where the library chose it to; the
programs in python_versions/ run unchanged on all of them."""
import json
import os

import pytest

from conftest import HERE, check_well_formed, python_markers, run_fdtrack, run_plain, run_preloaded

SCRIPTS = HERE / "python_versions"
LEAKS = SCRIPTS / "stdlib_leaks.py"
CHURN = SCRIPTS / "churn_signals.py"

# API -> how many fds it leaves open, the same on 3.8 to 3.13: the event loop
# is an epoll fd and its self-pipe socketpair; of Popen's pipes only the read
# end of stdout stays in the parent. 11 in all.
LEAKED_FDS = {"open": 1, "socket": 1, "selector": 1, "event_loop": 3, "pipe": 2, "mkstemp": 1, "subprocess": 1,
              "thread": 1}


def python_lines(report, entry):
    """(file, line) of every Python frame of the site that created `entry`."""
    return {(os.path.realpath(frame["file"]), frame["line"]) for frame in report.python_of(entry)}


def leak_problems(report, fds, where):
    """Why each of `fds` does not count in `report` as a leak from `where`, a
    (file, line) of the script; empty when all do."""
    problems = []
    for fd in fds:
        entry = report.fd(fd)
        if entry is None:
            problems.append(f"fd {fd}: not in the report")
        elif entry not in report.leaks():
            problems.append(f"fd {fd}: not a leak ({entry['origin']}, suppressed {entry['suppressed']})")
        elif not report.python_of(entry):
            problems.append(f"fd {fd}: no Python frames ({entry['call']})")
        elif (str(where[0]), where[1]) not in python_lines(report, entry):
            problems.append(f"fd {fd}: line {where[1]} not among {sorted(python_lines(report, entry))}")
    return problems


# ---- the standard library leak script -------------------------------------------

_leak_runs = {}


@pytest.fixture
def leak_runs(fdtrack_build, tmp_path_factory, interpreter):
    """stdlib_leaks.py untracked and under `fdtrack run`, once per interpreter."""
    if interpreter.name not in _leak_runs:
        scratch = tmp_path_factory.mktemp(f"leaks-{interpreter.name}")
        command = interpreter.command(LEAKS)
        _leak_runs[interpreter.name] = (run_plain(command, tmp_root=scratch), run_fdtrack(command, tmp_root=scratch))
    return _leak_runs[interpreter.name]


def test_leak_script_runs_as_without_fdtrack(leak_runs):
    plain, tracked = leak_runs
    assert plain.returncode == 0, plain.stderr
    counts = {name: len(fds) for name, fds in json.loads(plain.stdout).items()}
    assert counts == LEAKED_FDS, "the script leaks other fds than the tests expect"
    assert (tracked.returncode, tracked.stdout) == (0, plain.stdout), tracked.describe()
    assert tracked.report is not None and tracked.report["trigger"] == "exit", tracked.describe()
    check_well_formed(tracked.report.data, "exit report")


def test_every_leak_line_is_named(leak_runs):
    """Each `# LEAK:` line is in the Python frames of some site of the exit report."""
    _, tracked = leak_runs
    assert tracked.report is not None, tracked.describe()
    marks = python_markers(LEAKS, "LEAK")
    assert set(marks) == set(LEAKED_FDS)
    named = {(os.path.realpath(frame["file"]), frame["line"])
             for site in tracked.report["sites"] for frame in site["python"]}
    missing = [f"{name} (line {line})" for name, (line,) in sorted(marks.items()) if (str(LEAKS), line) not in named]
    assert not missing, (f"{len(marks) - len(missing)}/{len(marks)} leak lines named; missing {', '.join(missing)}\n"
                         f"{tracked.describe()}")


def test_every_leaked_fd_is_reported_with_its_line(leak_runs):
    """Each fd the script says it leaked is a leak of the exit report whose
    Python frames hold the line that leaked it."""
    _, tracked = leak_runs
    assert tracked.report is not None, tracked.describe()
    leaked = json.loads(tracked.stdout)
    marks = python_markers(LEAKS, "LEAK")
    problems = [f"{name}: {problem}" for name, fds in sorted(leaked.items())
                for problem in leak_problems(tracked.report, fds, (LEAKS, marks[name][0]))]
    fds = [fd for numbers in leaked.values() for fd in numbers]
    as_leaks = sum(1 for entry in tracked.report.leaks() if entry["fd"] in fds)
    assert not problems, (f"{len(fds) - len(problems)}/{len(fds)} leaked fds reported with their line "
                          f"({as_leaks}/{len(fds)} in the report as leaks at all)\n" + "\n".join(problems) +
                          f"\n{tracked.describe()}")


# ---- threads churning, dump signals, a daemon thread at exit ---------------------


def test_churn_with_dump_signals_and_a_daemon_thread_at_exit(fdtrack_build, interpreter, tmp_path):
    """Frames are read on eight threads at once while dumps run, and the exit
    report is taken with a daemon thread still opening fds: the program
    notices nothing, every signal gives one readable dump, and the daemon
    thread's leak is reported at its line."""
    plain = run_plain(interpreter.command(CHURN), tmp_root=tmp_path)
    assert plain.returncode == 0, plain.stderr
    tracked = run_fdtrack(interpreter.command(CHURN, "--await-dumps"), tmp_root=tmp_path)
    assert (tracked.returncode, tracked.stdout) == (0, plain.stdout), tracked.describe()
    said = json.loads(tracked.stdout)

    report = tracked.report
    assert report is not None and report["trigger"] == "exit", tracked.describe()
    check_well_formed(report.data, "exit report")
    dumps = [(dump.pid, dump["trigger"]) for dump in tracked.dumps]
    assert dumps == [(report.pid, "signal")] * said["signals"], tracked.stderr
    for dump in tracked.dumps:
        check_well_formed(dump.data, str(dump.path))

    (line,) = python_markers(CHURN, "LEAK")["daemon"]
    problems = leak_problems(report, [said["daemon"]], (CHURN, line))
    assert not problems, f"the daemon thread's leak: {problems}\n{tracked.describe()}"


# ---- fdtrack's own fds -------------------------------------------------------------


def test_first_fd_of_the_program_is_3(fdtrack_build, interpreter, tmp_path):
    """Whatever fdtrack (or libunwind for it) opens before its constructor, as
    3.13's mimalloc makes it do, must not take the program's numbers."""
    command = interpreter.command("-c", "import os; print(os.open('/dev/null', os.O_RDONLY))")
    plain = run_plain(command, tmp_root=tmp_path)
    assert (plain.returncode, plain.stdout) == (0, "3\n"), plain.stderr
    tracked = run_preloaded(command, tmp_root=tmp_path)
    assert (tracked.returncode, tracked.stdout) == (0, "3\n"), tracked.stderr
