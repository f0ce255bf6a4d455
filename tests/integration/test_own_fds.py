"""fdtrack's own fds (the dump thread's eventfd and control socket, libunwind's
pipe) never take a number from the program (issue #10, item 4): they sit
just below the soft limit, where a program may put its own (`exec 960>f` in
bash at 1024, a dup2 onto a high number). A dup2, dup3 or F_DUPFD onto one
of them works exactly as without fdtrack, which moves its fd first, and
dumps keep working after it. Also how a fork child starts its dump thread
(issue #10, item 8)."""

import contextlib
import os
import resource
import signal
import subprocess
import time

import pytest

from conftest import LIBRARY, _environment
from test_live import cli, dump_json, live  # noqa: F401 (live is a fixture)

EXIT_EXPECTED = 7
OPS = ["dup2", "dup3", "dupfd", "dupfd_cloexec"]


@contextlib.contextmanager
def soft_fd_limit(soft):
    """Programs started inside inherit this soft RLIMIT_NOFILE."""
    saved = resource.getrlimit(resource.RLIMIT_NOFILE)
    soft = min(soft, saved[1]) if saved[1] != resource.RLIM_INFINITY else soft
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, saved[1]))
    try:
        yield soft
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, saved)


def start(live, program, soft, preload=True):
    with soft_fd_limit(soft):
        return live([program.path], preload=preload)


def fds_of(proc):
    return {int(fd) for fd in proc.ask("fds").split()}


def own_fds(live, program, soft):
    """fdtrack's fds in a tracked process: what it has open that the same
    program run untracked does not."""
    plain = start(live, program, soft, preload=False)
    tracked = start(live, program, soft)
    own = sorted(fds_of(tracked) - fds_of(plain))
    dump_json(tracked.pid)  # its dump thread answers
    assert len(own) >= 3, own  # at least the eventfd, the control socket and libunwind's pipe
    return tracked, own


@pytest.mark.parametrize("soft", [1024, 20000])
@pytest.mark.parametrize("op", OPS)
def test_a_c_program_duplicates_onto_each_own_fd_and_writes_through_it(build_c, live, op, soft):
    """At 20000, the issue's dup2(1, 19936) returned 19936 but writes failed."""
    program = build_c("own_fds.c")
    proc, own = own_fds(live, program, soft)
    for fd in own:
        # As without fdtrack: not open, so F_DUPFD's lowest free fd >= fd is fd.
        probed = proc.ask(f"probe {fd}")
        assert proc.ask(f"{op} {fd}") == f"{fd} 1", (op, fd, own, proc.stderr())
        assert probed == "EBADF", (fd, own)
    dump_json(proc.pid)  # fdtrack still answers
    proc.send("exit")
    assert proc.wait() == EXIT_EXPECTED, proc.stderr()
    assert "fdtrack:" not in proc.stderr().replace("fdtrack: exit report", ""), proc.stderr()


def test_bash_redirects_onto_each_own_fd(tmp_path):
    """The issue's line, `exec 960>f; echo hi >&960` at ulimit -n 1024, for
    every number fdtrack holds (it said 'Bad file descriptor', and at 962
    'Invalid argument'). Bash probes the number with F_GETFD first and saves
    and restores what it finds open."""
    env = _environment({"LD_PRELOAD": str(LIBRARY)}, tmp_path)
    list_fds = "echo /proc/$$/fd/*"  # expanded by bash itself: bash's own fds

    def fds(preload):
        with soft_fd_limit(1024):
            result = subprocess.run(["bash", "-c", list_fds], capture_output=True, text=True, cwd=tmp_path,
                                    env=env if preload else _environment({}, tmp_path), timeout=30)
        assert result.returncode == 0, result.stderr
        return {int(path.rsplit("/", 1)[1]) for path in result.stdout.split()}

    own = sorted(fds(True) - fds(False))
    assert len(own) >= 3 and 960 in own, own
    for fd in own:
        script = f"exec {fd}>f{fd}; echo hi >&{fd}; echo there >&{fd}; cat f{fd}"
        with soft_fd_limit(1024):
            result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, cwd=tmp_path, env=env,
                                    timeout=30)
        assert (result.returncode, result.stdout) == (0, "hi\nthere\n"), (fd, own, result.stderr)
        assert "fdtrack" not in result.stderr.replace("fdtrack: exit report", ""), (fd, result.stderr)


def test_dumps_keep_working_after_dup2_over_the_control_socket_and_the_eventfd(build_c, live):
    """A dup2 over the control socket silently ended `fdtrack dump`, and one
    over the eventfd the dump signal's reports."""
    program = build_c("own_fds.c")
    proc, own = own_fds(live, program, 1024)
    kinds = {fd: os.readlink(f"/proc/{proc.pid}/fd/{fd}") for fd in own}
    taken = [fd for fd, target in kinds.items() if target.startswith("socket:") or "eventfd" in target]
    # The eventfd exists only with a dump thread, not in this one-thread program (test_single_thread.py).
    assert [kinds[fd] for fd in taken if kinds[fd].startswith("socket:")], kinds
    for fd in taken:
        assert proc.ask(f"dup2 {fd}") == f"{fd} 1", (fd, kinds, proc.stderr())
        assert "memfd:own_fds" in os.readlink(f"/proc/{proc.pid}/fd/{fd}")
    assert dump_json(proc.pid)["pid"] == proc.pid
    os.kill(proc.pid, signal.SIGUSR1)
    proc.wait_for_dump("signal")
    for fd in taken:  # the program's writes still land in its own file
        assert "memfd:own_fds" in os.readlink(f"/proc/{proc.pid}/fd/{fd}")
    proc.send("exit")
    assert proc.wait() == EXIT_EXPECTED, proc.stderr()


def test_a_fork_child_starts_its_dump_thread_at_its_first_fd(build_c, live):
    """A fork child gets no dump thread or control socket until it creates an
    fd (a thread in every child cost each fork about 0.2 ms). A dump signal
    before that wakes neither the parent's thread (their eventfd is no longer
    shared) nor anything else; the child writes that report once its thread
    runs."""
    program = build_c("own_fds.c")
    proc = live([program.path])
    child = int(proc.ask("fork"))
    time.sleep(0.2)
    threads = os.listdir(f"/proc/{child}/task")
    assert len(threads) == 1, threads
    assert not any("socket:" in os.readlink(f"/proc/{child}/fd/{fd}") for fd in os.listdir(f"/proc/{child}/fd"))
    os.kill(child, signal.SIGUSR1)
    time.sleep(0.5)
    assert not proc.dumps(), [d.path for d in proc.dumps()]  # the parent's thread was not woken
    assert not proc.dumps(child)
    proc.ask("child_open")
    (report,) = proc.wait_for_dump("signal", pid=child)
    assert report["pid"] == child
    assert dump_json(child)["pid"] == child
    os.kill(child, signal.SIGTERM)
    proc.send("exit")
    assert proc.wait() == EXIT_EXPECTED, proc.stderr()


def test_a_program_growing_past_fdtracks_fds_gets_every_number(build_c, preload_run):
    """fdtrack's fds start below 1024 (a high fd makes every fork copy a big fd
    table) and move up ahead of a program whose fds grow toward them: its
    opens get 3, 4, 5... with no number skipped."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2100:
        pytest.skip(f"the soft fd limit {soft} is below the 2100 this test needs")
    program = build_c("many_fds.c")
    result = preload_run([program.path], timeout=60)
    assert result.returncode == EXIT_EXPECTED, result.describe()
