"""pytest's `--fdtrack` option, registered through the `pytest11` entry point of an installed fdtrack:
with it, a run that is not under the preload restarts itself once under `fdtrack run`, keeping its
arguments, and the leak checker of fdtrack.pytest fails each test that leaks an fd. Without it,
nothing happens: pytest imports this module and the package's __init__ (neither loads ctypes nor
the library), and that is all.
"""

import os
import sys

import pytest

# Set in the restarted run's environment: a run that still is not tracked after its restart (the
# library could not be preloaded) stops with a message instead of restarting again and again.
_RESTARTED = "FDTRACK_PYTEST_RESTARTED"
_PLUGIN = "fdtrack.pytest"
MARKER_LINE = "fdtrack_allow_leak: the fds this test leaves open are intended; fdtrack does not check it"


def pytest_addoption(parser):
    parser.getgroup("fdtrack").addoption(
        "--fdtrack",
        action="store_true",
        default=False,
        help="fail each test that leaves open an fd it opened, with the line that opened it "
        "(pytest restarts itself under `fdtrack run` when it is not under the preload yet)",
    )


def _restart_argv(config):
    """The interpreter's arguments that started this run again, or None when pytest was not started
    from a command line (pytest.main() called by a program: restarting that program would redo
    whatever it did before)."""
    if list(config.invocation_params.args) != sys.argv[1:]:
        return None
    if hasattr(sys, "orig_argv"):  # 3.10+: interpreter options (-X, -W, -I) kept too
        return list(sys.orig_argv[1:])
    # 3.8, 3.9: `python -m pytest` leaves pytest/__main__.py in argv[0], a `pytest` script its path.
    start = ["-m", "pytest"] if os.path.basename(sys.argv[0]) == "__main__.py" else [sys.argv[0]]
    return [*start, *sys.argv[1:]]


# Before any conftest is imported, so the run being replaced has done as little as possible.
@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config, parser, args):
    if not early_config.known_args_namespace.fdtrack:
        return
    import fdtrack
    from fdtrack import cli

    if fdtrack.active():
        # Not left to the tests' own children: a test that runs `pytest --fdtrack` itself (a plugin's
        # test suite) would find it and refuse to restart.
        os.environ.pop(_RESTARTED, None)
        return
    if os.environ.get(_RESTARTED):
        raise pytest.UsageError(
            "--fdtrack: pytest restarted itself under `fdtrack run`, but libfdtrack.so is still not loaded "
            "(see fdtrack's message above)"
        )
    argv = _restart_argv(early_config)
    if argv is None:
        raise pytest.UsageError(
            "--fdtrack: pytest.main() was called by a program, which cannot be restarted under the preload; "
            "run that program under `fdtrack run --` instead"
        )
    if cli.find() is None:
        raise pytest.UsageError("--fdtrack: cannot find the fdtrack CLI (not in the fdtrack package, not on PATH)")
    # pytest's capture wraps this hook and has put files on fds 1 and 2 by now: back to the
    # terminal's, which the restarted run and `fdtrack run` inherit.
    capture = early_config.pluginmanager.getplugin("capturemanager")
    if capture is not None:
        capture.stop_global_capturing()
    os.environ[_RESTARTED] = "1"
    cli.exec_cli(["run", "--", sys.executable, *argv])


def pytest_configure(config):
    if config.getoption("fdtrack", False):
        # Under the preload by now (the restart above): the checker registers itself and its marker.
        config.pluginmanager.import_plugin(_PLUGIN)
    elif not config.pluginmanager.has_plugin(_PLUGIN):
        # The marker alone, so a suite whose tests carry it still runs with --strict-markers.
        config.addinivalue_line("markers", MARKER_LINE)
