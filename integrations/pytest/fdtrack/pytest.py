"""pytest plugin of fdtrack: fails each test that leaves open an fd it opened, with the Python
stack of the line that opened it. Installed, `pytest --fdtrack` enables it (fdtrack.pytest_option,
which also puts pytest under the preload); else enable it with `-p fdtrack.pytest` and run pytest
under the preload (`fdtrack run -- python3 -m pytest -p fdtrack.pytest`). Without the preload it
says once that it is inactive and does nothing.

What is checked: fds created while the test function runs (after its fixtures are set up) that
are still open once its fixtures are torn down and the garbage collector has run. Fds that
fixtures open are not checked, so a module-scoped fixture may keep a connection. A test marked
`@pytest.mark.fdtrack_allow_leak` is not checked; `fdtrack.ignore_fd(f)` allows one fd.

A test that leaked fails (after its fixtures are torn down) with the leaked fds and where each
was opened.
"""

import gc
import re

import pytest
from _pytest.runner import runtestprotocol

import fdtrack
from fdtrack.pytest_option import MARKER_LINE

_MARKER = "fdtrack_allow_leak"
_CHECKPOINT = pytest.StashKey[int]()
# The first frame of pytest's own machinery in a formatted Python stack, and all below it.
_RUNNER_FRAMES = re.compile(r'^ *File "[^"]*/(?:_pytest|pluggy)/', re.MULTILINE)


def pytest_configure(config):
    config.addinivalue_line("markers", MARKER_LINE)
    if fdtrack.active():
        config.pluginmanager.register(LeakChecker(), "fdtrack-leak-checker")


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session):
    if fdtrack.active():
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    note = (
        "fdtrack: inactive (libfdtrack.so is not preloaded), fd leak checks are off; "
        "run pytest under `fdtrack run --` or with LD_PRELOAD=libfdtrack.so"
    )
    if reporter:
        reporter.write_line(note)


def pytest_report_header(config):
    return "fdtrack: checking every test for leaked fds" if fdtrack.active() else None


def _leak_message(item, leaked):
    count = f"{len(leaked)} fd" + ("" if len(leaked) == 1 else "s")
    lines = [f"fdtrack: {item.name} left open {count} that it opened:"]
    for info in leaked:
        text = fdtrack.format_fd(info.fd)
        if text is None:  # closed by another thread while we looked
            continue
        if "Python stack" in text:
            # The native frames under a Python call are the interpreter's own; the Python
            # stack is the one the reader needs, down to where pytest called the test.
            text = text.split("    Native stack", 1)[0]
            text = _RUNNER_FRAMES.split(text, 1)[0]
        lines.append(text.rstrip("\n"))
    lines.append(
        f"Close it in the test, or if it is meant to stay open: fdtrack.ignore_fd(f) "
        f"or @pytest.mark.{_MARKER}."
    )
    return "\n".join(lines)


class LeakChecker:
    """The per-test check, registered only when fdtrack is tracking this process."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_call(self, item):
        # Fixtures are set up by now: what they open is theirs, not the test's.
        item.stash[_CHECKPOINT] = fdtrack.checkpoint()

    def pytest_runtest_protocol(self, item, nextitem):
        # pytest's own protocol, except that the reports are logged only after teardown: an fd
        # the test leaves to a fixture's finalizer is not a leak, so the verdict on the test
        # body waits for the finalizers, and then the test fails once, as a test, not as a
        # passed test plus a teardown error.
        ihook = item.ihook
        ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
        reports = runtestprotocol(item, nextitem=nextitem, log=False)
        _blame_leaks(item, reports)
        for report in reports:
            ihook.pytest_runtest_logreport(report=report)
        ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
        return True


def _blame_leaks(item, reports):
    """Turns the passed call report of a test that leaked into a failure naming the leaks."""
    phases = {report.when: report for report in reports}
    call, teardown = phases.get("call"), phases.get("teardown")
    # A failed test has likely skipped its own cleanup: its failure says enough.
    if not (call and call.passed and teardown and teardown.passed) or _CHECKPOINT not in item.stash:
        return
    if item.get_closest_marker(_MARKER):
        return
    # Fixtures are torn down now; objects in reference cycles close their fds when collected.
    gc.collect()
    leaked = fdtrack.open_since(item.stash[_CHECKPOINT])
    if leaked:
        call.outcome = "failed"
        call.longrepr = _leak_message(item, leaked)
