"""The control socket behind `fdtrack dump` cannot be faked or flooded (issue
#9, rows 6-9): another local user squatting the name, streaming endless
answers, holding hundreds of connections, or connecting while the target is
at its fd limit; and the CLI's words for a process it may not or cannot ask.

The other user's programs are small Python scripts given on the command line."""

import os
import resource
import signal
import subprocess
import time
from pathlib import Path

from conftest import CLI, LIBRARY, checked_json
from test_live import cli, dump_json, live  # noqa: F401 (live is a fixture)

PYTHON = "/usr/bin/python3"

# Binds @fdtrack.<pid> for the next `count` pids and answers whoever connects
# with a forged report of that pid (what root's `fdtrack dump` printed before).
SQUATTER = r"""
import json, selectors, socket, sys
count = int(sys.argv[1])
last = int(open("/proc/sys/kernel/ns_last_pid").read())
selector = selectors.DefaultSelector()
for pid in range(last + 1, last + 1 + count):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.bind(b"\0fdtrack.%d" % pid)
    except OSError:
        continue
    s.listen(8)
    selector.register(s, selectors.EVENT_READ, pid)
print(last + 1, last + count, flush=True)
site = {"id": 1, "count": 1, "call": "open", "frames": [
    {"function": "attacker_was_here", "file": "auth.c", "line": 42, "module": "/x", "address": "0x1"}]}
while True:
    for key, _ in selector.select():
        client, _ = key.fileobj.accept()
        forged = {"schema": "fdtrack/1", "pid": key.data, "program": "/forged", "argv": ["forged"],
                  "trigger": "signal", "time": "2024-01-01T00:00:00Z", "rlimit_nofile": 1024, "open_count": 1,
                  "fds": [{"fd": 3, "origin": "tracked", "call": "open", "kind": "file", "target": "/etc/shadow",
                           "cloexec": False, "age_s": 1.0, "tid": key.data, "thread": "x", "site": 1,
                           "suppressed": False}],
                  "sites": [site], "bad_closes": []}
        try:
            client.sendall(json.dumps(forged).encode())
        except OSError:
            pass
        client.close()
"""

# Listens on @fdtrack.<argv[1]> ("self": its own pid, which makes it pass the
# credential check as the process dumped) and answers every connection with
# endless data ("flood") or one byte now and then ("drip").
STREAMER = r"""
import os, socket, sys, time
pid = os.getpid() if sys.argv[1] == "self" else int(sys.argv[1])
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(b"\0fdtrack.%d" % pid)
s.listen(8)
print(pid, flush=True)
while True:
    client, _ = s.accept()
    try:
        if sys.argv[2] == "flood":
            chunk = b"[" * (1 << 20)
            while True:
                client.sendall(chunk)
        while True:
            client.sendall(b" ")
            time.sleep(0.2)
    except OSError:
        client.close()
"""

# Keeps up to 500 connections to @fdtrack.<argv[1]> open, making new ones
# as fast as they are taken; says "ready" after 300 attempts and, on stdin
# closing, how many connections it made in all.
FLOODER = r"""
import socket, sys, threading, time
name = b"\0fdtrack." + sys.argv[1].encode()
held, made, attempts, stop = [], [0], [0], threading.Event()
def flood():
    while not stop.is_set():
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect(name)
            held.append(s)
            made[0] += 1
            if len(held) > 500:
                held.pop(0).close()
        except OSError:
            s.close()
        attempts[0] += 1
        if attempts[0] == 300:
            print("ready", flush=True)
        time.sleep(0.002)
thread = threading.Thread(target=flood)
thread.start()
sys.stdin.read()
stop.set()
thread.join()
print(made[0], attempts[0], flush=True)
"""


def start_as(other_user, script, *args):
    """Starts `script` as the other user; returns it with its first stdout line read."""
    proc = other_user.popen([PYTHON, "-I", "-c", script, *map(str, args)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = proc.stdout.readline().strip()
    assert first, f"the other user's script did not start: {proc.stderr.read()}"
    return proc, first


def stop(proc):
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def dump_limited(pid, *options, address_space=1 << 30):
    """`fdtrack dump PID` with its address space capped (a CLI that reads
    without bound dies of it instead of eating the machine)."""

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))

    proc = subprocess.Popen([str(CLI), "dump", str(pid), *options], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, errors="replace", preexec_fn=cap)
    try:
        stdout, stderr = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise AssertionError(f"fdtrack dump {pid} {' '.join(options)} did not finish within 30 s")
    return proc.returncode, stdout, stderr


def test_a_squatted_name_is_refused_and_the_real_socket_found(build_c, live, other_user):
    """Row 6: another user binds @fdtrack.<pid> for the next pids before the
    target starts. The target says so in one line and listens elsewhere;
    root's `fdtrack dump` refuses the squatter and prints the real report."""
    squatter, squatted = start_as(other_user, SQUATTER, 300)
    try:
        first, last = map(int, squatted.split())
        program = build_c("live_ctl.c")
        target = live([program.path])
        assert first <= target.pid <= last, f"pid {target.pid} not among the squatted {first}-{last}"
        target.ask("open 3")
        said = [line for line in target.stderr().splitlines() if "control socket" in line]
        assert len(said) == 1 and f"@fdtrack.{target.pid} is taken" in said[0], target.stderr()

        result = cli("dump", target.pid, "--json")
        assert result.returncode == 0, result.stderr
        assert "attacker_was_here" not in result.stdout and "/etc/shadow" not in result.stdout
        data = checked_json(result.stdout)
        assert data["pid"] == target.pid and data["program"] == str(program.path), data
        grow = program.line("LEAK", "grow")
        assert any(site["count"] == 3 and site["frames"][0].get("line") == grow for site in data["sites"]), data
        (refusal,) = result.stderr.splitlines()
        assert f"@fdtrack.{target.pid} is held by process {squatter.pid} of {other_user.name}" in refusal, refusal
        assert "refused" in refusal, refusal
    finally:
        stop(squatter)


def test_endless_answers_are_refused_or_cut_off(live, other_user):
    """Row 7: a squatter streaming without end is never read (its credentials
    are wrong); a process that passes the check but streams is cut off at
    the size limit, and one that trickles at the timeout; the CLI's memory
    stays bounded (it runs capped at 1 GiB of address space)."""
    untracked = live(["sleep", "30"], preload=False)
    squatter, _ = start_as(other_user, STREAMER, untracked.pid, "flood")
    try:
        code, stdout, stderr = dump_limited(untracked.pid)
        assert code == 2 and stdout == "", stderr
        assert f"@fdtrack.{untracked.pid} is held by process {squatter.pid}" in stderr, stderr
        assert f"process {untracked.pid} is not tracked" in stderr, stderr
    finally:
        stop(squatter)

    flood, pid = start_as(other_user, STREAMER, "self", "flood")
    try:
        code, stdout, stderr = dump_limited(pid)
        assert code == 2 and stdout == "", stderr
        assert stderr == f"fdtrack dump: process {pid} sent more than 256 MiB, more than any report: gave up\n"
    finally:
        stop(flood)

    drip, pid = start_as(other_user, STREAMER, "self", "drip")
    try:
        code, stdout, stderr = dump_limited(pid, "--timeout", "1")
        assert code == 2 and stderr == f"fdtrack dump: process {pid} did not answer within 1 s\n", stderr
    finally:
        stop(drip)


def test_hundreds_of_connections_delay_neither_the_owner_nor_the_signal(build_c, live, other_user):
    """Row 8: another user keeps hundreds of connections to the control
    socket. They are dropped at once: root's `fdtrack dump` answers within
    its own timeout, and SIGUSR1 dumps still arrive."""
    program = build_c("live_ctl.c")
    target = live([program.path])
    target.ask("open 2")
    flooder, ready = start_as(other_user, FLOODER, target.pid)
    try:
        assert ready == "ready"
        for _ in range(3):
            assert dump_json(target.pid)["pid"] == target.pid
        os.kill(target.pid, signal.SIGUSR1)
        (dumped,) = target.wait_for_dump("signal")  # `fdtrack dump` writes no file
        assert dumped["pid"] == target.pid
        flooder.stdin.close()
        made, attempts = map(int, flooder.stdout.readline().split())
        # A program with one thread is not listening between requests (its
        # copies answer, test_single_thread.py): the kernel's backlog of 64
        # fills, and more connections are refused until a request drains it.
        assert attempts >= 300 and made >= 64, f"the other user made only {made} connections in {attempts} tries"
    finally:
        stop(flooder)


def cpu_ticks(pid):
    """utime + stime of process `pid` (all its threads), in clock ticks."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # fields 14 and 15 of stat(5)


def test_at_the_fd_limit_fdtrack_sleeps_and_still_answers(build_c, live, other_user):
    """Row 9: a program at its fd limit (`ulimit -n 64`, soft and hard) and
    another user's connections waiting: accept4 fails with EMFILE, and
    fdtrack must not retry at once (the dump thread backs off; with one
    thread, nothing listens until the owner rings); root's dump is answered
    all the same."""
    program = build_c("live_emfile.c")
    target = live(["sh", "-c", f'ulimit -n 64 && LD_PRELOAD={LIBRARY} exec "$0"', program.path], preload=False,
                  env={"FDTRACK_THRESHOLD": "100000"})
    answer = target.readline()
    assert answer.startswith("emfile "), answer
    leaked = int(answer.split()[1])
    target.wait_for_dump("emfile")

    flooder, ready = start_as(other_user, FLOODER, target.pid)
    try:
        assert ready == "ready"
        before = cpu_ticks(target.pid)
        time.sleep(1.5)
        spent = (cpu_ticks(target.pid) - before) / os.sysconf("SC_CLK_TCK")
        assert spent < 0.3, f"the idle program used {spent:.2f} s of CPU in 1.5 s"

        data = dump_json(target.pid)
        assert data["trigger"] == "signal" and data["rlimit_nofile"] == 64, data
        grow = program.line("LEAK", "emfile")
        assert any(site["count"] == leaked and site["frames"][0].get("line") == grow for site in data["sites"])
    finally:
        stop(flooder)


def test_another_users_dump_is_refused_at_once_and_says_why(build_c, live, other_user, shared_build):
    """A user may not dump another user's process: the CLI says so, rather
    than that the process "did not answer within 10 s"."""
    target = live([build_c("live_ctl.c").path])
    target.ask("open 1")
    result = other_user.run([shared_build.cli, "dump", target.pid])
    assert result.returncode == 2 and result.stdout == "", result.stderr
    assert result.stderr == (f"fdtrack dump: process {target.pid} belongs to root (uid 0); "
                             "only that user or root may dump it\n")


def test_dump_of_a_zombie_says_it_has_exited(build_c, live):
    """A tracked child that exited and was not reaped yet is no longer "not tracked"."""
    parent = live([build_c("live_ctl.c").path])
    child = int(parent.ask("fork"))
    os.kill(child, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
        assert time.monotonic() < deadline, "the child did not exit"
        time.sleep(0.02)
    result = cli("dump", child)
    assert result.returncode == 2 and result.stdout == "", result.stderr
    assert result.stderr == f"fdtrack dump: process {child} has exited; it is a zombie until its parent reaps it\n"


def test_a_timeout_that_is_not_a_number_is_rejected(live):
    target = live(["sleep", "30"], preload=False)
    for bad in ("nan", "inf", "1e400", "-1", "0"):
        result = cli("dump", target.pid, "--timeout", bad)
        assert result.returncode != 0 and "--timeout" in result.stderr, (bad, result.stderr)
        assert "did not answer" not in result.stderr, (bad, result.stderr)


def test_a_dump_signal_at_the_fd_limit_writes_its_report(build_c, live):
    """At the limit (soft = hard = 64, every fd taken) the signal's report is
    written by a forked copy too, as the emfile one: it used to be lost with
    'could not write ... Too many open files'."""
    program = build_c("live_emfile.c")
    target = live(["sh", "-c", f'ulimit -n 64 && LD_PRELOAD={LIBRARY} exec "$0"', program.path], preload=False,
                  env={"FDTRACK_THRESHOLD": "100000"})
    answer = target.readline()
    assert answer.startswith("emfile "), answer
    target.wait_for_dump("emfile")
    os.kill(target.pid, signal.SIGUSR1)
    (dump,) = target.wait_for_dump("signal")
    assert dump["rlimit_nofile"] == 64 and "could not write" not in target.stderr(), target.stderr()
    grow = program.line("LEAK", "emfile")
    assert any(site["frames"][0].get("line") == grow for site in dump["sites"]), repr(dump)
