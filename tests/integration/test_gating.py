"""CI leak gating (issue 5): `fdtrack run --error-exitcode N` fails a run that
leaked, suppression files excuse known leaks (in the CLI and in plain
LD_PRELOAD reports), malformed files stop the run before it starts,
--gen-suppressions writes rules that excuse exactly the leaks seen, and
--follow-children gates on exec'd children too."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import CLI, HERE, checked_json

GATING = HERE / "gating"
PYTHON = "/usr/bin/python3"
GATE = ("--error-exitcode", "3")
GEN_HEADER = "# fdtrack --gen-suppressions"


@pytest.fixture(scope="module")
def leaky(build_c):
    return build_c("../gating/leaky.c")


@pytest.fixture(scope="module")
def clean(build_c):
    return build_c("../gating/clean.c")


@pytest.fixture(scope="module")
def parent(build_c):
    return build_c("../gating/parent.c")


def write_rules(tmp_path, text, name="rules.supp"):
    path = tmp_path / name
    path.write_text(text)
    return path


def generated_rules(stderr):
    """The --gen-suppressions block of `fdtrack run`'s stderr."""
    assert GEN_HEADER in stderr, stderr
    block = stderr[stderr.index(GEN_HEADER) :]
    lines = []
    for line in block.splitlines():
        if line.startswith("fdtrack:"):  # the --follow-children summary after it
            break
        lines.append(line)
    return "\n".join(lines) + "\n"


def suppressed(report):
    return [e for e in report.tracked() if e["suppressed"]]


# ---- --error-exitcode -----------------------------------------------------------


def test_a_leak_fails_the_gate(fdtrack_run, leaky):
    result = fdtrack_run([leaky.path, "5"], options=GATE)
    assert result.returncode == 3, result.describe()
    (leak,) = result.report.leaks()
    assert result.report.fds_from(leaky.source, leaky.line("LEAK", "socket")) == [leak]
    assert f"leaky.c:{leaky.line('LEAK', 'socket')} in leak_socket" in result.stderr


def test_a_clean_program_keeps_its_status(fdtrack_run, clean):
    for status in ("0", "5"):
        result = fdtrack_run([clean.path, status], options=GATE)
        assert result.returncode == int(status), result.describe()
        assert result.report.leaks() == []
        assert "No leaks." in result.stderr


def test_without_the_option_a_leak_keeps_the_status(fdtrack_run, leaky):
    result = fdtrack_run([leaky.path, "5"])
    assert result.returncode == 5, result.describe()
    assert len(result.report.leaks()) == 1


# ---- suppression files ----------------------------------------------------------


def test_a_suppressed_leak_passes_the_gate_and_stays_in_the_json(fdtrack_run, leaky, tmp_path):
    rules = write_rules(
        tmp_path,
        "# leak_socket's socket lives as long as the process, on purpose\n"
        "suppress: process-wide socket\n"
        "  call: socket\n"
        "  kind: socket\n"
        "  target: udp *\n"
        "  function: leak_*\n",
    )
    result = fdtrack_run([leaky.path], options=(*GATE, "--suppressions", rules))
    assert result.returncode == 0, result.describe()
    assert result.report.leaks() == []
    (entry,) = suppressed(result.report)
    assert result.report.fds_from(leaky.source, leaky.line("LEAK", "socket")) == [entry]
    assert "Suppressed: 1 fd" in result.stderr
    assert "No leaks." in result.stderr


def test_a_saved_report_can_be_re_read_with_suppressions(fdtrack_run, leaky, tmp_path):
    result = fdtrack_run([leaky.path])
    saved = tmp_path / "saved.json"
    saved.write_text(json.dumps(result.report.data))
    rules = write_rules(tmp_path, "suppress: the socket\n  call: socket\n")
    shown = subprocess.run([CLI, "report", saved, "--suppressions", rules, "--json"], capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    marked = [fd for fd in checked_json(shown.stdout)["fds"] if fd["suppressed"]]
    assert [fd["call"] for fd in marked] == ["socket"], marked
    bad = write_rules(tmp_path, "suppress: typo\n  calll: socket\n", name="bad.supp")
    refused = subprocess.run([CLI, "report", saved, "--suppressions", bad], capture_output=True, text=True)
    assert refused.returncode == 2 and "bad.supp:2: unknown key 'calll'" in refused.stderr, refused.stderr


def test_all_keys_of_a_rule_must_match(fdtrack_run, leaky, tmp_path):
    rules = write_rules(tmp_path, "suppress: wrong kind\n  function: leak_socket\n  kind: pipe\n")
    result = fdtrack_run([leaky.path], options=(*GATE, "--suppressions", rules))
    assert result.returncode == 3, result.describe()
    assert suppressed(result.report) == []


def test_plain_preload_reports_mark_suppressed_fds(preload_run, leaky, tmp_path):
    rules = write_rules(tmp_path, "suppress: s\n  function: leak_socket\n")
    result = preload_run([leaky.path, "0", "pipe"], env={"FDTRACK_SUPPRESSIONS": str(rules)})
    assert result.returncode == 0, result.describe()
    (entry,) = suppressed(result.report)
    assert entry["kind"] == "socket"
    assert {e["kind"] for e in result.report.leaks()} == {"pipe"}, "only the rule's leak is suppressed"


def test_plain_preload_with_a_bad_file_says_so_once_and_suppresses_nothing(preload_run, leaky, tmp_path):
    rules = write_rules(tmp_path, "suppress: s\n  function: leak_socket\n  kidn: socket\n")
    result = preload_run([leaky.path, "4"], env={"FDTRACK_SUPPRESSIONS": str(rules), "FDTRACK_SIGNAL": "none"})
    assert result.returncode == 4, result.describe()
    assert result.stderr.count(f"fdtrack: {rules}:3: unknown key 'kidn'") == 1, result.stderr
    assert result.stderr.count("no suppressions apply") == 1, result.stderr
    assert suppressed(result.report) == []
    assert len(result.report.leaks()) == 1


MALFORMED = {
    "unknown key": (
        "# a comment\n\nsuppress: x\n  calll: socket\n",
        ":4: unknown key 'calll' (expected call, kind, target, function, python)",
    ),
    "no colon": ("suppress: x\n  call socket\n", ":2: expected 'suppress: NAME' or 'KEY: VALUE', got 'call socket'"),
    "key outside a rule": ("call: socket\n", ":1: 'call:' outside a rule"),
    "unknown kind": ("suppress: x\n  kind: sokcet\n", ":2: unknown kind 'sokcet'"),
    "empty rule": ("suppress: everything\n", ":1: rule 'everything' has no keys"),
    "nameless rule": ("suppress:\n  call: socket\n", ":1: 'suppress:' needs a name"),
}


@pytest.mark.parametrize("name", MALFORMED)
def test_a_malformed_file_stops_the_run_before_it_starts(fdtrack_run, tmp_path, name):
    text, message = MALFORMED[name]
    rules = write_rules(tmp_path, text)
    marker = tmp_path / "ran"
    result = fdtrack_run(["touch", marker], options=(*GATE, "--suppressions", rules))
    assert result.returncode == 2, result.describe()
    assert f"fdtrack: {rules}{message}" in result.stderr
    assert not marker.exists(), "the program ran despite the bad file"


def test_every_bad_line_is_named(fdtrack_run, tmp_path):
    rules = write_rules(tmp_path, "suppress: x\n  calll: a\n  kind: pipe\n  targte: b\n")
    result = fdtrack_run(["true"], options=("--suppressions", rules))
    assert result.returncode == 2
    assert f"{rules}:2: unknown key 'calll'" in result.stderr
    assert f"{rules}:4: unknown key 'targte'" in result.stderr


# ---- --gen-suppressions -----------------------------------------------------------


def test_generated_rules_suppress_exactly_the_leaks_seen(fdtrack_run, leaky, tmp_path):
    first = fdtrack_run([leaky.path, "0", "pipe"], options=(*GATE, "--gen-suppressions"))
    assert first.returncode == 3, first.describe()
    text = generated_rules(first.stderr)
    assert "  function: leak_socket\n" in text and "  function: leak_pipe\n" in text, text

    # Pasted whole, the rules excuse both leaks.
    rules = write_rules(tmp_path, text)
    again = fdtrack_run([leaky.path, "0", "pipe"], options=(*GATE, "--suppressions", rules))
    assert again.returncode == 0, again.describe()
    assert again.report.leaks() == []
    assert len(suppressed(again.report)) == 3  # the socket and both ends of the pipe

    # The socket's rule alone excuses the socket and nothing else.
    blocks = [b for b in text.split("\n\n") if "leak_socket" in b]
    only_socket = write_rules(tmp_path, blocks[0] + "\n", "socket.supp")
    partial = fdtrack_run([leaky.path, "0", "pipe"], options=(*GATE, "--suppressions", only_socket))
    assert partial.returncode == 3, partial.describe()
    assert {e["kind"] for e in partial.report.leaks()} == {"pipe"}
    assert [e["kind"] for e in suppressed(partial.report)] == ["socket"]


def test_nothing_is_generated_for_a_clean_run(fdtrack_run, clean):
    result = fdtrack_run([clean.path], options=("--gen-suppressions",))
    assert result.returncode == 0
    assert GEN_HEADER not in result.stderr


# ---- children ------------------------------------------------------------------------


SUMMARY = re.compile(r"fdtrack: (\d+) processes, 1 leak in 1 child \(pid (\d+): (\S+)\)")


@pytest.mark.parametrize("how", ["fork", "spawn", "system"])
def test_followed_children_count_for_the_gate(fdtrack_run, parent, leaky, how):
    result = fdtrack_run([parent.path, how, leaky.path], options=(*GATE, "--follow-children"))
    assert result.returncode == 3, result.describe()
    assert result.report.leaks() == [], "the parent itself is clean"
    match = SUMMARY.search(result.stderr)
    assert match, result.stderr
    assert int(match.group(1)) >= 2
    assert Path(match.group(3)).resolve() == Path(leaky.path).resolve()
    assert f"fdtrack: child process {match.group(2)}:" in result.stderr
    assert f"leaky.c:{leaky.line('LEAK', 'socket')} in leak_socket" in result.stderr


@pytest.mark.parametrize("how", ["fork", "spawn", "system"])
def test_children_are_not_tracked_unless_followed(fdtrack_run, preload_run, parent, leaky, how):
    result = fdtrack_run([parent.path, how, leaky.path], options=GATE)
    assert result.returncode == 0, result.describe()
    assert "leak_socket" not in result.stderr
    assert not SUMMARY.search(result.stderr)

    # Not even written and ignored: the child never reports.
    plain = preload_run([parent.path, how, leaky.path])
    assert plain.returncode == 0, plain.describe()
    assert list(plain.reports) == [plain.report.pid]


def test_a_python_parent_gates_on_its_subprocess(fdtrack_run, leaky):
    followed = fdtrack_run([PYTHON, GATING / "parent.py", leaky.path, "0"], options=(*GATE, "--follow-children"))
    assert followed.returncode == 3, followed.describe()
    assert followed.report.leaks() == [], "the Python parent itself is clean"
    assert SUMMARY.search(followed.stderr), followed.stderr

    unfollowed = fdtrack_run([PYTHON, GATING / "parent.py", leaky.path, "0"], options=GATE)
    assert unfollowed.returncode == 0, unfollowed.describe()
    assert "leak_socket" not in unfollowed.stderr


def test_a_child_program_keeps_its_status_through_a_clean_gate(fdtrack_run, clean):
    result = fdtrack_run([PYTHON, GATING / "parent.py", clean.path, "6"], options=(*GATE, "--follow-children"))
    assert result.returncode == 6, result.describe()
    assert re.search(r"fdtrack: \d+ processes, no leaks", result.stderr), result.stderr


def test_suppressions_reach_followed_children(fdtrack_run, parent, leaky, tmp_path):
    rules = write_rules(tmp_path, "suppress: child socket\n  function: leak_socket\n")
    result = fdtrack_run([parent.path, "fork", leaky.path], options=(*GATE, "--follow-children", "--suppressions", rules))
    assert result.returncode == 0, result.describe()
    assert re.search(r"fdtrack: \d+ processes, no leaks \(1 suppressed\)", result.stderr), result.stderr


def test_generated_rules_cover_followed_children(fdtrack_run, parent, leaky, tmp_path):
    first = fdtrack_run([parent.path, "spawn", leaky.path], options=(*GATE, "--follow-children", "--gen-suppressions"))
    assert first.returncode == 3, first.describe()
    rules = write_rules(tmp_path, generated_rules(first.stderr))
    again = fdtrack_run([parent.path, "spawn", leaky.path], options=(*GATE, "--follow-children", "--suppressions", rules))
    assert again.returncode == 0, again.describe()


# ---- the done-when: a pytest run under the gate -------------------------------


@pytest.fixture
def leaky_suite(tmp_path):
    """A copy of leaky_suite.py in a directory of its own, away from our conftest."""
    directory = tmp_path / "suite"
    directory.mkdir()
    shutil.copy(GATING / "leaky_suite.py", directory)
    path = directory / "leaky_suite.py"
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1) if "# LEAK: pytest-socket" in text)
    return path, line


def pytest_command(suite):
    return [PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider", suite.name]


def test_a_pytest_run_that_leaks_a_socket_fails_the_gate(fdtrack_run, leaky_suite):
    suite, line = leaky_suite
    result = fdtrack_run(pytest_command(suite), options=GATE, cwd=suite.parent, timeout=120)
    assert result.returncode == 3, result.describe()
    assert "3 passed" in result.stdout, result.stdout
    assert f"leaky_suite.py:{line} in test_leaks_socket" in result.stderr, result.stderr
    (leak,) = result.report.leaks()
    assert leak["kind"] == "socket"


def test_a_pytest_run_with_the_leak_suppressed_passes(fdtrack_run, leaky_suite, tmp_path):
    suite, _ = leaky_suite
    rules = write_rules(tmp_path, "# known leak, tracked in #123\nsuppress: leaky suite\n  call: socket\n  python: */leaky_suite.py\n")
    result = fdtrack_run(pytest_command(suite), options=(*GATE, "--suppressions", rules), cwd=suite.parent, timeout=120)
    assert result.returncode == 0, result.describe()
    assert len(suppressed(result.report)) == 1


def test_a_pytest_run_passes_with_its_generated_rule(fdtrack_run, leaky_suite, tmp_path):
    suite, _ = leaky_suite
    first = fdtrack_run(pytest_command(suite), options=(*GATE, "--gen-suppressions"), cwd=suite.parent, timeout=120)
    assert first.returncode == 3, first.describe()
    text = generated_rules(first.stderr)
    assert f"  python: {suite}\n" in text, text
    rules = write_rules(tmp_path, text)
    again = fdtrack_run(pytest_command(suite), options=(*GATE, "--suppressions", rules), cwd=suite.parent, timeout=120)
    assert again.returncode == 0, again.describe()


def test_followed_childrens_reports_reach_the_json_too(fdtrack_build, tmp_path):
    """Issue #10, item 9: with --follow-children, the children's reports went
    to stderr only; each now lands beside --json FILE as FILE's stem.<pid>.json."""
    import subprocess

    from conftest import CLI, load_report

    code = ("import subprocess, sys\n"
            "child = subprocess.run([sys.executable, '-I', '-c', "
            "'import os; keep = open(\"/etc/hostname\"); print(os.getpid())'], capture_output=True, text=True)\n"
            "print(child.stdout.strip())\n")
    report_path = tmp_path / "run.json"
    result = subprocess.run([CLI, "run", "--follow-children", "--json", report_path, "--", "/usr/bin/python3", "-I",
                             "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    child = int(result.stdout)
    child_report = load_report(tmp_path / f"run.{child}.json")
    assert child_report["pid"] == child and child_report.leaks(), repr(child_report)
    assert load_report(report_path)["pid"] != child


def test_an_unreadable_exit_report_fails_the_gate(build_c, fdtrack_run):
    """The review found it: an exit report that is there but cannot be read
    was said on stderr, and the gate passed the program anyway."""
    program = build_c("../gating/spoils_its_report.c")
    result = fdtrack_run([program.path], options=("--error-exitcode", "9"))
    assert "is unreadable" in result.stderr, result.stderr
    assert result.returncode == 9, result.describe()
    passed = fdtrack_run([program.path])  # without the gate, the program's own status
    assert passed.returncode == 0, passed.describe()
