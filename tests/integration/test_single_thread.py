"""A program with a single thread keeps a single thread under fdtrack (issue
#10, item 8): no dump thread, so its forks stay glibc's cheap single-threaded
fork and CPython 3.12+ does not warn at os.fork(). Copies of the process
answer the dump signal, `fdtrack dump` and the thresholds instead; the
program never sees them (no child to wait for, no SIGCHLD). Once the program
starts a thread of its own, or takes the dump signal, the dump thread
answers."""

import os
import signal
import time
from pathlib import Path

import pytest

from conftest import EXIT_EXPECTED
from test_live import cli, dump_json, live  # noqa: F401  (the fixture)

HERE = Path(__file__).resolve().parent


@pytest.fixture
def one_thread(build_c, live):  # noqa: F811
    program = build_c("one_thread.c", libs=("-pthread",))

    def start(**kwargs):
        return live([program.path], **kwargs), program

    return start


def thread_names(pid):
    return sorted((task / "comm").read_text().strip() for task in Path(f"/proc/{pid}/task").iterdir())


def children_of(pid):
    """Processes whose parent is `pid` now (zombies included)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def comm_of(pid):
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "(gone)"


def wait_until(predicate, timeout=10):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_single_threaded_program_stays_so_and_is_answered_by_copies(one_thread):
    program, source = one_thread()
    program.ask("open 5")
    assert program.ask("threads") == "1"
    single = source.line("LEAK", "single")

    os.kill(program.pid, signal.SIGUSR1)
    [report] = program.wait_for_dump("signal")
    assert len(report.fds_from(source.source, single)) == 5
    assert report["pid"] == program.pid

    live_report = dump_json(program.pid)
    sites = [entry for entry in live_report["fds"] if entry["origin"] == "tracked"]
    assert len(sites) == 5, live_report["fds"]
    assert all(entry["origin"] != "inherited" or entry["fd"] < 3 or entry["fd"] > 9 for entry in live_report["fds"]), \
        "the copy's connection to `fdtrack dump` shows in the program's report"

    # The copies are the program's children that its wait() never returns
    # (no exit signal), reaped by fdtrack at the next request.
    assert program.ask("children") == "-1 10 0", "waitpid(-1) saw a copy, or a SIGCHLD arrived"
    assert all(comm_of(child) == "fdtrack copy" for child in children_of(program.pid))
    assert len(children_of(program.pid)) <= 2
    assert program.ask("threads") == "1"
    assert thread_names(program.pid) == ["one_thread"]
    program.send("exit")
    assert program.wait() == EXIT_EXPECTED


def test_a_subreaper_never_sees_the_copies(one_thread):
    """Copies are never orphaned: the orphans of a subreaper's descendants
    become its children, with SIGCHLD as their exit signal, and wait(-1)
    would return them. A copy stays the program's child, of a kind wait(-1)
    never returns (no exit signal), reaped by fdtrack at a later request."""
    program, source = one_thread()
    program.ask("open 1")
    program.ask("subreaper")
    for expected in (1, 2, 3):
        os.kill(program.pid, signal.SIGUSR1)
        program.wait_for_dump("signal", count=expected)
        dump_json(program.pid)
    assert program.ask("children") == "-1 10 0", "waitpid(-1) saw a copy, or a SIGCHLD arrived"
    assert len(children_of(program.pid)) <= 2  # the last request's copies, reaped at the next


def test_each_dump_signal_gets_its_own_numbered_report(one_thread):
    program, source = one_thread()
    program.ask("open 2")
    for expected in (1, 2, 3):
        os.kill(program.pid, signal.SIGUSR1)
        reports = program.wait_for_dump("signal", count=expected)
        assert [r.path.name for r in reports] == [f"fdtrack.{program.pid}.{n}.json" for n in range(1, expected + 1)]
    assert program.ask("threads") == "1"


def test_a_program_that_starts_a_thread_gets_the_dump_thread(one_thread):
    program, source = one_thread()
    program.ask("open 3")
    assert thread_names(program.pid) == ["one_thread"]
    program.ask("thread")
    wait_until(lambda: "fdtrack" in thread_names(program.pid))
    assert program.ask("threads") == "3"
    report = dump_json(program.pid)
    assert len([e for e in report["fds"] if e["origin"] == "tracked"]) == 3
    os.kill(program.pid, signal.SIGUSR1)
    [dumped] = program.wait_for_dump("signal")
    assert len(dumped.fds_from(source.source, source.line("LEAK", "single"))) == 3


def test_a_program_that_takes_the_dump_signal_is_never_rung(one_thread):
    """The control socket rang the dump signal: once the program handles it,
    the ring must stop before its handler is in place, and the dump thread
    answers instead."""
    program, source = one_thread()
    program.ask("open 1")
    program.ask("handle")
    assert "handles USR1 itself" in program.stderr()
    for _ in range(3):
        assert len([e for e in dump_json(program.pid)["fds"] if e["origin"] == "tracked"]) == 1
    assert program.ask("usr1") == "0", "fdtrack's ring reached the program's handler"
    assert "fdtrack" in thread_names(program.pid)
    os.kill(program.pid, signal.SIGUSR1)
    wait_until(lambda: program.ask("usr1") == "1")


def test_dumps_of_a_program_busy_in_the_allocator_leave_its_heap_alone(one_thread):
    """Interrupted inside malloc, the program is not copied there (the copy's
    heap would be half changed): fdtrack waits for a safe point. The program
    checks every block it allocates; every dump must still come."""
    program, source = one_thread()
    program.ask("open 4")
    program.send("churn 3000")
    asked = 0
    deadline = time.monotonic() + 2.5
    while time.monotonic() < deadline:
        os.kill(program.pid, signal.SIGUSR1)
        asked += 1
        time.sleep(0.05)
        if asked % 5 == 0:  # the churn's own fd may be open at that moment
            sites = dump_json(program.pid)["sites"]
            assert [s["count"] for s in sites if s["frames"][0].get("line") == source.line("LEAK", "single")] == [4]
    rounds = program.readline(timeout=30)
    assert rounds.endswith("ok") and int(rounds.split()[0]) > 0, rounds
    # Signals that come while one is being answered merge; each report is whole.
    reports = program.wait_for_dump("signal")
    for report in program.dumps():
        assert len(report.fds_from(source.source, source.line("LEAK", "single"))) == 4
    assert len(reports) >= 3, f"{len(reports)} reports for {asked} signals"
    assert program.ask("children") == "-1 10 0"
    assert program.ask("threads") == "1"
    assert "CHECK" not in program.stderr()


def test_a_program_that_waits_for_the_dump_signal_itself_is_never_rung(one_thread):
    """A program that blocks the dump signal and takes it with sigtimedwait
    (or sigwait, sigwaitinfo, signalfd) would take a client's ring for its
    own: from its first wait the dump thread answers, and a kill -USR1 is
    the program's, as without fdtrack."""
    program, source = one_thread()
    program.ask("open 2")
    assert program.ask("waitsig") == "0"
    assert "fdtrack" in thread_names(program.pid)
    for _ in range(3):
        assert len([e for e in dump_json(program.pid)["fds"] if e["origin"] == "tracked"]) == 2
    assert program.ask("waitsig") == "0", "a ring reached the program's sigtimedwait"
    os.kill(program.pid, signal.SIGUSR1)
    wait_until(lambda: program.ask("waitsig") == "1")


def test_a_program_that_blocks_the_dump_signal_gets_the_dump_thread(one_thread):
    """A ring would wait as long as the program blocks the dump signal
    (postgres blocks every signal but while it waits in select, a backend
    all through its authentication): from the block on, the dump thread
    answers."""
    program, source = one_thread()
    program.ask("open 1")
    assert program.ask("threads") == "1"
    assert program.ask("block") == "0"
    assert "fdtrack" in thread_names(program.pid)
    assert len([e for e in dump_json(program.pid)["fds"] if e["origin"] == "tracked"]) == 1
    os.kill(program.pid, signal.SIGUSR1)  # pending until unblocked, then fdtrack's
    program.ask("unblock")
    [report] = program.wait_for_dump("signal")
    assert len(report.fds_from(source.source, source.line("LEAK", "single"))) == 1
    assert program.ask("usr1") == "0"


def test_pthread_sigmask_also_brings_the_dump_thread(one_thread):
    program, source = one_thread()
    program.ask("pblock")
    assert "fdtrack" in thread_names(program.pid)


@pytest.mark.parametrize("function", ["sigwait", "sigwaitinfo", "sigtimedwait"])
def test_a_program_that_takes_the_dump_signal_with_a_wait_gets_the_dump_thread(one_thread, function):
    """Blocked behind fdtrack's back (the system call itself), the signal is
    pending; the program's wait takes it, as without fdtrack, and from that
    wait on the dump thread answers."""
    program, source = one_thread()
    program.ask("open 1")
    program.ask("rawblock")
    assert program.ask("threads") == "1"
    os.kill(program.pid, signal.SIGUSR1)
    assert program.ask(f"take {function}") == str(int(signal.SIGUSR1))
    assert "fdtrack" in thread_names(program.pid)
    assert len([e for e in dump_json(program.pid)["fds"] if e["origin"] == "tracked"]) == 1
    assert not program.dumps()


def test_fdtrack_dump_never_signals_a_process_fdtrack_does_not_answer_for(one_thread):
    """Only a process listening on its own control socket is rung: one that
    runs without fdtrack and handles SIGUSR1 itself must not get one."""
    program, source = one_thread(preload=False)
    program.ask("handle")
    result = cli("dump", program.pid, "--timeout", "2")
    assert result.returncode == 2 and "not tracked" in result.stderr, result
    assert program.ask("usr1") == "0", "fdtrack dump signalled a process without fdtrack"


def test_a_program_with_a_handler_for_another_signal_is_rung_with_its_dump_signal(one_thread):
    """The CLI picks the dump signal among those the process catches: the
    one its FDTRACK_SIGNAL names, USR1 when unset, never the program's own."""
    program, source = one_thread()
    program.ask("open 1")
    program.ask("handle2")
    for _ in range(3):
        assert len([e for e in dump_json(program.pid)["fds"] if e["origin"] == "tracked"]) == 1
    assert program.ask("usr2") == "0"
    assert program.ask("threads") == "1"
