"""The C API (fdtrack/fdtrack.h) and the test-framework integrations built on it: a C program
with and without the preload, a GoogleTest binary with the leak listener, and pytest with the
fdtrack.pytest plugin, each run for real and checked for the leak lines they name."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import BUILD_DIR, SOURCE_DIR

API_DIR = Path(__file__).resolve().parent / "api"
INCLUDE_DIR = SOURCE_DIR / "include"
PYTEST_PLUGIN_DIR = SOURCE_DIR / "integrations" / "pytest"


def marked_line(source, marker):
    """The line of `source` carrying `LEAK: name` or `CLOSED: name` (in a C or Python comment)."""
    lines = [n for n, text in enumerate(Path(source).read_text().splitlines(), 1) if re.search(rf"\b{marker}\b", text)]
    assert len(lines) == 1, f"{source} must mark exactly one line with {marker!r}"
    return lines[0]


def facts(stdout):
    """The "key value" lines of api_basic, as key -> [values]."""
    found = {}
    for line in stdout.splitlines():
        key, _, value = line.partition(" ")
        found.setdefault(key, []).append(value)
    return found


def listed_fds(found, label):
    return {int(re.search(r"fd=(\d+)", value).group(1)) for value in found.get(label, [])}


def compile_checked(cmd):
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    assert proc.returncode == 0, f"compiling failed:\n{' '.join(map(str, cmd))}\n{proc.stderr}"


@pytest.fixture(scope="session")
def api_basic(session_tmp):
    out = session_tmp / "api_basic"
    # -pedantic: the header's dlsym wrappers must stay clean C for any user's warning flags.
    compile_checked(["cc", "-std=c11", "-g", "-O0", "-Wall", "-Wextra", "-pedantic", "-Werror",
                     "-I", INCLUDE_DIR, API_DIR / "api_basic.c", "-o", out])
    return out


@pytest.fixture(scope="session")
def leaky_gtest(session_tmp, fdtrack_build):
    libs = BUILD_DIR / "integrations"
    main, listener = libs / "libfdtrack_gtest_main.a", libs / "libfdtrack_gtest.a"
    assert main.exists() and listener.exists(), f"build the fdtrack_gtest_main target first ({libs})"
    out = session_tmp / "leaky_gtest"
    compile_checked(["g++", "-std=c++20", "-g", "-O0", "-Wall", "-Wextra", "-pedantic", "-Werror",
                     "-I", SOURCE_DIR / "integrations" / "gtest", "-I", INCLUDE_DIR,
                     API_DIR / "leaky_gtest.cpp", main, listener, "-lgtest", "-lpthread", "-o", out])
    return out


# ---- C API ------------------------------------------------------------------------


def test_api_is_a_no_op_without_the_preload(api_basic, plain_run):
    result = plain_run([api_basic])
    assert result.returncode == 0, result.stderr
    found = facts(result.stdout)
    assert found["active"] == ["0"]
    assert found["checkpoint"] == ["0"]
    assert found["since_count"] == ["0"] and found["all_count"] == ["0"]
    assert found["format_length"] == ["-1 0"]  # and the buffer holds ""
    assert found["ignore"] == ["-1"]
    assert found["dump"] == ["-1"]
    assert not list(result.workdir.glob("fdtrack.*"))


def test_open_since_lists_what_was_opened_after_the_checkpoint_and_is_still_open(api_basic, preload_run):
    result = preload_run([api_basic])
    assert result.returncode == 0, result.stderr
    found = facts(result.stdout)
    assert found["active"] == ["1"]
    assert int(found["checkpoint"][0]) > 0
    file, sock, before = int(found["file"][0]), int(found["sock"][0]), int(found["before"][0])

    # Opened before the checkpoint, or opened and closed after it: not listed.
    assert listed_fds(found, "since") == {file, sock}
    assert found["since_count"] == ["2"]
    calls = {int(re.search(r"fd=(\d+)", v).group(1)): re.search(r"call=(\w+)", v).group(1) for v in found["since"]}
    assert calls[sock] == "socket"
    # Checkpoint 0 means every tracked fd still open.
    assert before in listed_fds(found, "all")

    # An ignored fd is left out; a new fd that reuses its number is not.
    assert found["ignore"] == ["0"] and found["ignore_bad"] == ["-1"]
    assert listed_fds(found, "after_ignore") == {file}
    assert int(found["sock2"][0]) == sock
    assert listed_fds(found, "after_reuse") == {file, sock}


def test_format_fd_names_the_opening_line(api_basic, preload_run):
    result = preload_run([api_basic])
    found = facts(result.stdout)
    text = result.stdout.split("format_begin\n", 1)[1].split("\nformat_end", 1)[0]
    length, printed = map(int, found["format_length"][0].split())
    assert length == printed == len(text.encode())
    first = text.splitlines()[0]
    line = marked_line(API_DIR / "api_basic.c", "LEAK: file")
    assert f"api_basic.c:{line} in main" in first, text
    assert "(file /etc/hostname)" in first and "opened by open" in first
    assert "Native stack" in text and f"api_basic.c:{line})" in text
    # Cut to the buffer, NUL-terminated, and the full length still returned.
    assert found["format_small"] == [f"{length} 15"]
    assert found["format_untracked"] == ["-1"]


def test_dump_writes_an_api_report(api_basic, preload_run):
    result = preload_run([api_basic])
    assert facts(result.stdout)["dump"] == ["0"]
    assert "dump requested by the program: api_basic asked" in result.stderr
    (dump,) = [report for report in result.dumps if report["trigger"] == "api"]
    assert dump.pid == result.report.pid
    line = marked_line(API_DIR / "api_basic.c", "LEAK: file")
    assert dump.fds_from(API_DIR / "api_basic.c", line), dump


# ---- GoogleTest listener ----------------------------------------------------------------


def gtest_outcomes(stdout):
    return dict(
        (name, status)
        for status, name in re.findall(r"^\[\s+(OK|FAILED)\s+\] (\S+) \(", stdout, re.MULTILINE)
    )


def test_gtest_listener_fails_the_leaking_test_with_its_line(leaky_gtest, fdtrack_run):
    result = fdtrack_run([leaky_gtest])
    assert result.returncode != 0, result.stdout
    outcomes = gtest_outcomes(result.stdout)
    assert outcomes == {
        "Fds.Leaks": "FAILED",
        "Fds.Clean": "OK",
        "Fds.IgnoredFd": "OK",
        "Fds.AllowedLeak": "OK",
        "WithFixture.ClosedInTearDown": "OK",
    }, result.stdout
    line = marked_line(API_DIR / "leaky_gtest.cpp", "LEAK: gtest_leak")
    failure = result.stdout.split("[ RUN      ] Fds.Leaks", 1)[1].split("[  FAILED  ] Fds.Leaks", 1)[0]
    assert "left open 1 fd" in failure, failure
    assert f"leaky_gtest.cpp:{line} in " in failure and "Fds_Leaks_Test::TestBody" in failure
    assert "(file /etc/hostname)" in failure


def test_gtest_listener_is_off_without_the_preload(leaky_gtest, plain_run):
    result = plain_run([leaky_gtest])
    assert result.returncode == 0, result.stdout
    assert set(gtest_outcomes(result.stdout).values()) == {"OK"}
    assert result.stderr.count("fd leak checks are off") == 1


# ---- pytest plugin ---------------------------------------------------------------------


def run_pytest_plugin(runner, tmp_path):
    # A copy, so neither this directory's conftest nor its rootdir apply to the sample.
    sample = tmp_path / "leaky_tests.py"
    shutil.copy(API_DIR / "leaky_tests.py", sample)
    result = runner(
        ["/usr/bin/python3", "-m", "pytest", "-p", "no:cacheprovider", "-p", "fdtrack.pytest", "-rA", str(sample)],
        env={"PYTHONPATH": str(PYTEST_PLUGIN_DIR)},
        cwd=tmp_path,
    )
    outcomes = dict(
        (name, status) for status, name in re.findall(r"^(PASSED|FAILED) \S*::(\w+)", result.stdout, re.MULTILINE)
    )
    return result, outcomes


def failure_section(stdout, test):
    return stdout.split(f"_ {test} _", 1)[1].split("\n___", 1)[0].split("short test summary", 1)[0]


def test_pytest_plugin_fails_the_leaking_tests_with_the_opening_line(preload_run, tmp_path):
    result, outcomes = run_pytest_plugin(preload_run, tmp_path)
    assert outcomes == {
        "test_leaks_socket": "FAILED",
        "test_leaks_os_open": "FAILED",
        "test_clean": "PASSED",
        "test_cycle_is_collected": "PASSED",
        "test_fixture_fd_is_not_the_test_s": "PASSED",
        "test_marked_leak": "PASSED",
        "test_ignored_fd": "PASSED",
    }, result.stdout + result.stderr
    assert result.returncode == 1
    # Each leaking test fails once, as a test: not as a pass plus a teardown error.
    assert re.search(r"\b2 failed, 5 passed\b", result.stdout), result.stdout
    for test, marker in (("test_leaks_socket", "pytest_socket"), ("test_leaks_os_open", "pytest_os_open")):
        section = failure_section(result.stdout, test)
        line = marked_line(API_DIR / "leaky_tests.py", f"LEAK: {marker}")
        assert f"leaky_tests.py:{line} in {test}" in section, section
        assert f'leaky_tests.py", line {line}, in {test}' in section, section
        assert "left open 1 fd" in section
    assert "opened by socket" in failure_section(result.stdout, "test_leaks_socket")


def test_pytest_plugin_is_inactive_without_the_preload(plain_run, tmp_path):
    result, outcomes = run_pytest_plugin(plain_run, tmp_path)
    assert result.returncode == 0, result.stdout
    assert set(outcomes.values()) == {"PASSED"} and len(outcomes) == 7
    assert result.stdout.count("fdtrack: inactive") == 1


def test_python_binding_without_the_preload():
    proc = subprocess.run(
        [sys.executable, "-c",
         "import fdtrack; print(fdtrack.active(), fdtrack.checkpoint(), fdtrack.open_since(0), "
         "fdtrack.format_fd(0), fdtrack.ignore_fd(0), fdtrack.dump('x'))"],
        env={"PYTHONPATH": str(PYTEST_PLUGIN_DIR), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "0", "[]", "None", "False", "False"]
