"""Live diagnosis of running programs: dumps on request (signal and `fdtrack
dump`) under load, at "Too many open files" and at the threshold; the
program's own signal handlers; fd descriptions and ages in a live dump;
`fdtrack dump`/`report`/`diff` errors; fork children; the output directory."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import (CLI, EXIT_EXPECTED, LIBRARY, _environment, check_well_formed, checked_json, line_within,
                      load_report, own_fd_floor)

HERE = Path(__file__).resolve().parent
PYTHON_DIR = HERE / "python_live"


# ---- a live program -----------------------------------------------------------------


class Live:
    """A program running under LD_PRELOAD in its own process group, talked to
    line by line over stdin/stdout, with its dumps in `self.out`."""

    def __init__(self, argv, tmp_path, env=None, preload=True):
        self.out = Path(tmp_path) / f"live-{time.monotonic_ns()}"
        self.out.mkdir()
        extra = {"LD_PRELOAD": str(LIBRARY)} if preload else {}
        extra.update(env or {})
        self.stderr_path = self.out / "stderr.txt"
        self._stderr = open(self.stderr_path, "w")
        self.proc = subprocess.Popen(
            [str(arg) for arg in argv],
            env=_environment(extra, self.out),
            cwd=self.out,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            start_new_session=True,
        )
        self.pid = self.proc.pid

    def readline(self, timeout=20):
        """One line of the program's stdout; fails instead of hanging."""
        line = line_within(self.proc.stdout, timeout)
        assert line, f"no answer from pid {self.pid} within {timeout}s\n{self.stderr()}"
        return line.rstrip("\n")

    def send(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def ask(self, command, timeout=20):
        """Sends a live_ctl command; returns what came before its "ok"."""
        self.send(command)
        answer = self.readline(timeout)
        assert answer.endswith("ok"), f"{command!r} -> {answer!r}\n{self.stderr()}"
        return answer[: -len("ok")].strip()

    def wait(self, timeout=20):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"pid {self.pid} did not exit within {timeout}s (a deadlock?)\n{self.stderr()}")

    def stderr(self):
        self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")

    def dumps(self, pid=None):
        """The fdtrack.<pid>.<seq>.json dumps written so far, in sequence order."""
        pid = pid or self.pid
        paths = self.out.glob(f"fdtrack.{pid}.*.json")
        return [load_report(p) for p in sorted(paths, key=lambda p: int(p.name.split(".")[2]))]

    def wait_for_dump(self, trigger, count=1, timeout=15, pid=None):
        """Waits until `count` dumps with `trigger` exist; returns them."""
        deadline = time.monotonic() + timeout
        while True:
            # Complete once its stderr notice is out (the JSON file comes first).
            said = self.stderr()
            found = [d for d in self.dumps(pid) if d["trigger"] == trigger and f" report {d.path} " in said]
            if len(found) >= count or time.monotonic() > deadline:
                assert len(found) >= count, f"{len(found)} {trigger} dumps after {timeout}s\n{self.stderr()}"
                return found
            time.sleep(0.02)

    def close(self):
        if self.proc.poll() is None:
            os.killpg(self.pid, signal.SIGKILL)
            self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except (BrokenPipeError, OSError):
                pass
        self._stderr.close()


@pytest.fixture
def live(fdtrack_build, tmp_path):
    """live(argv, env=None, preload=True) -> Live; killed at the end of the test."""
    started = []

    def start(argv, **kwargs):
        started.append(Live(argv, tmp_path, **kwargs))
        return started[-1]

    yield start
    for program in started:
        program.close()


def cli(*args, timeout=20):
    try:
        return subprocess.run([str(CLI), *map(str, args)], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"fdtrack {' '.join(map(str, args))} timed out (a deadlock?)")


def dump_json(pid):
    """`fdtrack dump PID --json`, parsed and checked."""
    result = cli("dump", pid, "--json")
    assert result.returncode == 0, f"fdtrack dump {pid}: exit {result.returncode}\n{result.stderr}"
    data = json.loads(result.stdout)
    check_well_formed(data)
    assert data["pid"] == pid
    return data


def listed_fds(text):
    return {int(fd) for fd in text.split()}


# ---- 1. storm: dump requests while eight threads churn ------------------------------


def test_dump_storm_while_threads_churn(build_c, live):
    program = build_c("live_storm.c", cflags=("-pthread",))
    storm = live([program.path])
    assert storm.readline() == "running"
    pid = storm.pid

    signals_sent, cli_answers, errors = [0], [], []

    def send_signals():
        for _ in range(98):
            for _ in range(10):
                os.kill(pid, signal.SIGUSR1)
                signals_sent[0] += 1
            time.sleep(0.01)

    def ask_cli(n):
        try:
            for _ in range(n):
                cli_answers.append(dump_json(pid))
        except AssertionError as error:  # reported from the main thread
            errors.append(error)

    senders = [threading.Thread(target=send_signals)] + [threading.Thread(target=ask_cli, args=(10,)) for _ in range(2)]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join(60)
    assert not any(sender.is_alive() for sender in senders), f"requests hang\n{storm.stderr()}"
    assert not errors, errors[0]
    assert signals_sent[0] + len(cli_answers) == 1000
    assert storm.proc.poll() is None, f"the program died: {storm.proc.returncode}\n{storm.stderr()}"

    storm.send("stop")
    listing = storm.readline()
    assert listing.startswith("open "), listing
    listed = listed_fds(listing[len("open "):])
    final = dump_json(pid)
    own = {fd for fd in listed if fd >= own_fd_floor(final["rlimit_nofile"])}
    dumped = {entry["fd"] for entry in final["fds"]}
    assert dumped == listed - own, f"dump {sorted(dumped)}\n/proc {sorted(listed)}"
    assert len([e for e in final["fds"] if e["origin"] == "tracked"]) == 8 * 3
    storm.send("exit")
    assert storm.wait() == EXIT_EXPECTED, storm.stderr()

    dumps = storm.dumps()
    by_trigger = {}
    for dump in dumps:
        check_well_formed(dump.data, where=str(dump.path))
        by_trigger[dump["trigger"]] = by_trigger.get(dump["trigger"], 0) + 1
    # Signals coalesce while a dump runs, the more so on a busy machine;
    # `fdtrack dump` writes no file.
    assert by_trigger.get("exit") == 1, by_trigger
    assert 1 <= by_trigger.get("signal", 0) <= signals_sent[0] and len(by_trigger) == 2, by_trigger
    assert not list(storm.out.glob("*.tmp")), "half-written reports left behind"
    assert all(dump.path.with_suffix(".txt").exists() for dump in dumps)
    notices = [line for line in storm.stderr().splitlines() if line.startswith("fdtrack: ")]
    assert len(notices) == len(dumps), storm.stderr()[-3000:]
    # The strict C++ reader accepts them too.
    for dump in dumps[:: max(1, len(dumps) // 10)]:
        result = cli("report", dump.path, "--json")
        assert result.returncode == 0, f"{dump.path}: {result.stderr}"
        checked_json(result.stdout, f"fdtrack report {dump.path} --json")


# ---- 2. "Too many open files" and the threshold -------------------------------------


def site_line(site):
    """(file, line) of the innermost frame of `site` with a source line."""
    frame = next(f for f in site["frames"] if f.get("line"))
    return frame["file"], frame["line"]


def test_emfile_dump_names_the_leaking_line(build_c, live):
    program = build_c("live_emfile.c")
    leaking = program.line("LEAK", "emfile")
    # No threshold dump: the test knows when the only dump is over.
    proc = live([program.path], env={"FDTRACK_THRESHOLD": "100000"})
    answer = proc.readline()
    assert answer.startswith("emfile "), answer
    leaked = int(answer.split()[1])

    (dump,) = proc.wait_for_dump("emfile")
    check_well_formed(dump.data, str(dump.path))
    assert dump["rlimit_nofile"] == 64  # the program's, not the one lifted for the dump
    top = max(dump["sites"], key=lambda site: site["count"])
    assert top["count"] == leaked and top["call"] == "open", dump
    assert site_line(top) == (str(program.source), leaking), top["frames"]
    text = dump.path.with_suffix(".txt").read_text()
    assert f"{leaked} fds open from live_emfile.c:{leaking}" in text, text
    assert any(
        line.startswith(f"fdtrack: emfile report {dump.path}") and f"live_emfile.c:{leaking}" in line
        for line in proc.stderr().splitlines()
    ), proc.stderr()

    time.sleep(0.1)  # the dump thread puts the limit back right after its notice
    proc.send("done")
    assert proc.wait() == EXIT_EXPECTED, proc.stderr()
    # Once per 30 s, however often the program keeps failing; the exit report
    # still gets written at the limit.
    triggers = [d["trigger"] for d in proc.dumps()]
    assert triggers.count("emfile") == 1 and triggers[-1] == "exit", triggers
    assert proc.dumps()[-1]["open_count"] == dump["open_count"]


def test_a_dump_asked_for_just_before_exit_is_written_before_the_exit_report(build_c, preload_run):
    """The dump thread had no time to take it: the exiting thread takes it,
    then writes the exit report (a program giving up at "Too many open
    files" loses its emfile report so, issue #10, item 6)."""
    program = build_c("dump_then_exit.c")
    result = preload_run([program.path])
    assert result.returncode == EXIT_EXPECTED, result.describe()
    assert [dump["trigger"] for dump in result.dumps] == ["signal"], result.stderr
    (dump,) = result.dumps
    check_well_formed(dump.data, str(dump.path))
    assert len(dump.fds_from(program.source, program.line("LEAK", "pipe"))) == 2, dump
    notices = [line for line in result.stderr.splitlines() if line.startswith("fdtrack: ")]
    assert notices[0].startswith(f"fdtrack: signal report {dump.path}"), result.stderr
    assert result.report is not None and result.report["open_count"] == dump["open_count"], result.stderr


def test_threshold_dumps_once_and_rearms_well_below(build_c, live):
    program = build_c("live_ctl.c")
    proc = live([program.path], env={"FDTRACK_THRESHOLD": "20"})
    proc.ask("open 25")
    (first,) = proc.wait_for_dump("threshold")
    assert first["open_count"] >= 20, first
    time.sleep(0.3)  # a second dump would come now
    assert [d["trigger"] for d in proc.dumps()] == ["threshold"]

    proc.ask("closeto 20")  # below the threshold, not well below it: still disarmed
    proc.ask("open 5")
    proc.ask("closeto 5")
    proc.ask("open 25")
    dumps = proc.wait_for_dump("threshold", count=2)
    time.sleep(0.3)
    assert [d["trigger"] for d in proc.dumps()] == ["threshold", "threshold"], dumps
    grow = program.line("LEAK", "grow")
    for dump in dumps:
        top = max(dump["sites"], key=lambda site: site["count"])
        assert site_line(top) == (str(program.source), grow)
    proc.send("exit")
    assert proc.wait() == EXIT_EXPECTED, proc.stderr()


# ---- 3. the dump signal and the program's own handlers ------------------------------


def handled_count(proc, at_least, timeout=5):
    """Asks the program how often its handler ran, until `at_least` or timeout."""
    deadline = time.monotonic() + timeout
    while True:
        proc.send("count")
        answer = proc.readline()
        count = int(answer.split()[1])
        if count >= at_least or time.monotonic() > deadline:
            return count
        time.sleep(0.02)


def notices(proc, text):
    return [line for line in proc.stderr().splitlines() if text in line]


@pytest.mark.parametrize("how", ["sigaction", "signal", "python"])
def test_program_handler_of_the_dump_signal_wins(build_c, live, how):
    if how == "python":
        proc = live([sys.executable, PYTHON_DIR / "handler.py"])
    else:
        proc = live([build_c("live_signals.c").path, how])
    assert proc.readline() == "ready"
    for expected in (1, 2):
        os.kill(proc.pid, signal.SIGUSR1)
        assert handled_count(proc, expected) == expected, proc.stderr()
    time.sleep(0.2)
    assert proc.dumps() == [], "SIGUSR1 still dumps"
    said = notices(proc, "handles USR1 itself")
    assert len(said) == 1 and f"fdtrack dump {proc.pid}" in said[0], proc.stderr()

    result = cli("dump", proc.pid)
    assert result.returncode == 0, result.stderr
    assert f"pid {proc.pid}" in result.stdout.splitlines()[0], result.stdout
    assert handled_count(proc, 2) == 2  # the dump did not raise the program's signal
    proc.send("exit")
    assert proc.wait() == EXIT_EXPECTED, proc.stderr()
    assert len(notices(proc, "handles USR1 itself")) == 1


def test_no_notice_when_the_program_leaves_the_signal_alone(build_c, live):
    proc = live([build_c("live_signals.c").path, "default"])
    assert proc.readline() == "ready"
    os.kill(proc.pid, signal.SIGUSR1)
    (dump,) = proc.wait_for_dump("signal")
    check_well_formed(dump.data)
    proc.send("exit")
    assert proc.wait() == EXIT_EXPECTED, proc.stderr()
    assert not notices(proc, "itself"), proc.stderr()


def test_another_dump_signal_leaves_usr1_to_the_program(build_c, live):
    program = build_c("live_signals.c")
    proc = live([program.path, "default"], env={"FDTRACK_SIGNAL": "USR2"})
    assert proc.readline() == "ready"
    os.kill(proc.pid, signal.SIGUSR2)
    (dump,) = proc.wait_for_dump("signal")
    check_well_formed(dump.data)
    assert proc.proc.poll() is None
    # Not ours: the default action of SIGUSR1 ends the program, as without fdtrack.
    os.kill(proc.pid, signal.SIGUSR1)
    assert proc.wait() == -signal.SIGUSR1, proc.stderr()
    assert not notices(proc, "itself"), proc.stderr()


def test_no_dump_signal(build_c, live):
    proc = live([build_c("live_signals.c").path, "default"], env={"FDTRACK_SIGNAL": "none"})
    assert proc.readline() == "ready"
    assert cli("dump", proc.pid).returncode == 0  # the control socket still answers
    os.kill(proc.pid, signal.SIGUSR1)
    assert proc.wait() == -signal.SIGUSR1, proc.stderr()
    assert proc.dumps() == []  # `fdtrack dump` prints its report and writes none


def test_fdtrack_dump_writes_no_file_and_takes_no_number(build_c, live):
    """Issue #10, item 1: `fdtrack dump` printed its report on the caller's
    terminal and also wrote it in the target's output directory, as number
    1; the README's next two kill -USR1 then made 2 and 3, and the diff of
    1 and 2 it suggests showed no growth."""
    proc = live([build_c("live_ctl.c").path])
    proc.ask("open 2")
    assert dump_json(proc.pid)["open_count"] >= 2
    assert proc.dumps() == []
    os.kill(proc.pid, signal.SIGUSR1)
    proc.wait_for_dump("signal")
    proc.ask("open 3")
    os.kill(proc.pid, signal.SIGUSR1)
    first, second = proc.wait_for_dump("signal", count=2)
    assert [first.path.name, second.path.name] == [f"fdtrack.{proc.pid}.1.json", f"fdtrack.{proc.pid}.2.json"]
    grew = cli("diff", first.path, second.path)
    assert grew.returncode == 0 and "+3 fds" in grew.stdout, grew.stdout + grew.stderr


def test_malformed_dump_signal_keeps_the_default(build_c, live):
    proc = live([build_c("live_signals.c").path, "default"], env={"FDTRACK_SIGNAL": "bogus"})
    assert proc.readline() == "ready"
    os.kill(proc.pid, signal.SIGUSR1)
    (dump,) = proc.wait_for_dump("signal")
    proc.send("exit")
    assert proc.wait() == EXIT_EXPECTED, proc.stderr()
    said = [line for line in proc.stderr().splitlines() if "report" not in line]
    assert len(said) == 1 and "FDTRACK_SIGNAL" in said[0] and "bogus" in said[0], proc.stderr()


# ---- 4. what a live dump says about each fd -----------------------------------------


def test_live_dump_describes_sockets_pipes_and_deleted_files(build_c, live):
    program = build_c("live_kinds.c")
    proc = live([program.path])
    words = proc.readline().split()
    held = dict(zip(words[::2], words[1::2]))
    fd = {name: int(held[name]) for name in ("listen", "accepted", "pipe_r", "pipe_w", "eventfd", "epoll", "deleted")}
    port, client_port = held["port"], held["client_port"]

    first = dump_json(proc.pid)
    time.sleep(0.3)
    second = dump_json(proc.pid)
    entries = {entry["fd"]: entry for entry in second["fds"]}
    by_name = {name: entries[number] for name, number in fd.items()}

    listening = by_name["listen"]
    assert listening["kind"] == "socket" and listening["state"] == "LISTEN", listening
    assert f"127.0.0.1:{port}" in listening["target"], listening
    accepted = by_name["accepted"]
    assert accepted["kind"] == "socket" and accepted["state"] == "CLOSE_WAIT", accepted
    assert accepted["target"] == f"tcp 127.0.0.1:{port} -> 127.0.0.1:{client_port}", accepted
    assert by_name["pipe_r"]["kind"] == by_name["pipe_w"]["kind"] == "pipe"
    assert by_name["pipe_r"]["target"] == by_name["pipe_w"]["target"]  # one pipe, two ends
    assert by_name["eventfd"]["kind"] == "eventfd" and by_name["eventfd"]["cloexec"] is True
    assert by_name["epoll"]["kind"] == "epoll" and by_name["epoll"]["cloexec"] is False
    deleted = by_name["deleted"]
    assert deleted["kind"] == "file" and deleted["target"] == f"{held['dir']}/{held['file']} (deleted)", deleted
    for name, entry in by_name.items():
        assert entry["origin"] == "tracked", entry
        if name not in ("listen", "accepted"):
            assert not entry.get("state"), entry  # TCP sockets only
        site = next(s for s in second["sites"] if s["id"] == entry["site"])
        assert site_line(site) == (str(program.source), program.line("LEAK", name.split("_")[0])), name

    # Ages: each fd is older in the later dump, and each site spans its fds.
    before = {entry["fd"]: entry["age_s"] for entry in first["fds"]}
    for number in fd.values():
        assert entries[number]["age_s"] >= before[number] + 0.25, (before[number], entries[number])
    for site in second["sites"]:
        ages = [e["age_s"] for e in second["fds"] if e.get("site") == site["id"]]
        assert site["oldest_age_s"] == max(ages) and site["newest_age_s"] == min(ages), site
        assert site["oldest_age_s"] >= site["newest_age_s"]
    proc.send("exit")
    assert proc.wait() == EXIT_EXPECTED, proc.stderr()


# ---- 5. errors: processes that cannot answer, reports that cannot be read -----------


def test_dump_of_a_missing_process(fdtrack_build):
    with open("/proc/sys/kernel/pid_max") as f:
        pid_max = int(f.read())
    missing = next(pid for pid in range(pid_max - 1, 1, -1) if not os.path.exists(f"/proc/{pid}"))
    result = cli("dump", missing)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip() == f"fdtrack dump: no process with PID {missing}", result.stderr


def test_dump_of_an_untracked_process(live):
    proc = live(["sleep", "30"], preload=False)
    result = cli("dump", proc.pid)
    assert result.returncode == 2 and result.stdout == ""
    assert "is not tracked" in result.stderr and "LD_PRELOAD" in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_dump_of_an_exec_child_that_is_not_followed(live):
    # The shell is tracked; the sleep it starts has the library loaded but,
    # without FDTRACK_FOLLOW_CHILDREN, does not track.
    proc = live(["sh", "-c", "sleep 30 & echo $!; wait"])
    child = int(proc.readline())
    time.sleep(0.2)  # until sleep has exec'd
    result = cli("dump", child)
    assert result.returncode == 2 and result.stdout == ""
    assert "not tracking" in result.stderr and "--follow-children" in result.stderr, result.stderr
    assert cli("dump", proc.pid).returncode == 0  # its tracked parent answers


def test_dump_of_a_followed_exec_child(live):
    proc = live(["sh", "-c", "sleep 30 & echo $!; wait"], env={"FDTRACK_FOLLOW_CHILDREN": "1"})
    child = int(proc.readline())
    # comm changes at exec, before the library's constructor has started the
    # dump thread in the new image: until then the CLI is rightly refused.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if "sleep" in Path(f"/proc/{child}/comm").read_text() and cli("dump", child, "--json").returncode == 0:
            break
        time.sleep(0.02)
    assert dump_json(child)["program"].endswith("sleep")


GARBAGE = {
    "empty": "",
    "not-json": "this is not a report\n",
    "truncated": '{"schema": "fdtrack/1", "pid": 12, "fds": [{"fd": 3, "orig',
    "wrong-schema": '{"schema": "other/2", "pid": 1}',
    "wrong-type": '{"schema": "fdtrack/1", "pid": "twelve", "program": "", "argv": [], "trigger": "signal",'
    ' "time": "", "rlimit_nofile": 1, "open_count": 0, "fds": [], "sites": [], "bad_closes": []}',
    "binary": "\x00\x01\x02\xff" * 10,
}


@pytest.mark.parametrize("kind", sorted(GARBAGE))
def test_report_and_diff_reject_garbage(fdtrack_build, tmp_path, kind):
    bad = tmp_path / f"{kind}.json"
    bad.write_text(GARBAGE[kind], errors="surrogateescape")
    good = tmp_path / "good.json"
    good.write_text(json.dumps({
        "schema": "fdtrack/1", "pid": 1, "program": "/bin/true", "argv": ["true"], "trigger": "signal",
        "time": "2026-11-26T22:31:05Z", "rlimit_nofile": 1024, "open_count": 0, "fds": [], "sites": [],
        "bad_closes": [],
    }))
    assert cli("report", good).returncode == 0
    for args in (("report", bad), ("report", bad, "--json"), ("diff", bad, good), ("diff", good, bad)):
        result = cli(*args)
        assert result.returncode == 2, f"{args}: exit {result.returncode}\n{result.stderr}"
        assert result.stdout == "", args
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and str(bad) in lines[0], f"{args}: {result.stderr}"
    missing = cli("diff", good, tmp_path / "nowhere.json")
    assert missing.returncode == 2 and "nowhere.json" in missing.stderr, missing.stderr


# ---- 6. diff of two live dumps --------------------------------------------------------


def test_diff_of_two_dumps_shows_what_grew(build_c, live, tmp_path):
    program = build_c("live_ctl.c")
    proc = live([program.path])
    proc.ask("open 5")
    proc.ask("other 3")
    proc.ask("pipe 2")
    older = tmp_path / "older.json"
    older.write_text(json.dumps(dump_json(proc.pid)))
    proc.ask("open 7")
    proc.ask("other 2")
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps(dump_json(proc.pid)))
    proc.send("exit")
    assert proc.wait() == EXIT_EXPECTED, proc.stderr()

    result = cli("diff", older, newer, "--json")
    assert result.returncode == 0, result.stderr
    diff = checked_json(result.stdout, "fdtrack diff --json")
    assert diff["schema"] == "fdtrack-diff/1" and diff["new"]["pid"] == proc.pid
    grown = [(site_line(g["site"])[1], g["old_count"], g["new_count"], g["growth"]) for g in diff["grown"]]
    assert grown == [
        (program.line("LEAK", "grow"), 5, 12, 7),
        (program.line("LEAK", "steady"), 3, 5, 2),
    ], grown  # the pipes did not grow: not listed

    text = cli("diff", older, newer)
    assert text.returncode == 0, text.stderr
    lines = [line for line in text.stdout.splitlines() if line.startswith("+")]
    assert len(lines) == 2 and lines[0].startswith("+7 fds (5 -> 12) from live_ctl.c:"), text.stdout
    assert f"live_ctl.c:{program.line('LEAK', 'pipe')}" not in text.stdout, text.stdout
    assert "Summary: 9 more fds open in 2 sites that grew." in text.stdout, text.stdout


# ---- 7. fork children answer for themselves -------------------------------------------


def test_fork_child_answers_with_its_own_state(build_c, live):
    program = build_c("live_ctl.c")
    proc = live([program.path])
    proc.ask("open 3")
    child = int(proc.ask("fork"))
    proc.ask("other 4")  # the parent's, after the fork
    grow, steady, in_child = (program.line("LEAK", name) for name in ("grow", "steady", "child"))

    def lines_of(data):
        counts = {}
        for site in data["sites"]:
            counts[site_line(site)[1]] = site["count"]
        return counts

    deadline = time.monotonic() + 10
    while True:
        child_dump = dump_json(child)
        if lines_of(child_dump).get(in_child) == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert child_dump["pid"] == child
    assert lines_of(child_dump) == {grow: 3, in_child: 2}, child_dump
    parent_dump = dump_json(proc.pid)
    assert lines_of(parent_dump) == {grow: 3, steady: 4}, parent_dump

    # The signal reaches each process's own dump thread too. (`fdtrack dump`
    # above wrote "signal" dumps of its own: wait for one more.)
    before = len([d for d in proc.dumps(child) if d["trigger"] == "signal"])
    os.kill(child, signal.SIGUSR1)
    signalled = proc.wait_for_dump("signal", count=before + 1, pid=child)
    assert all(d["pid"] == child for d in signalled)
    assert lines_of(signalled[-1].data) == {grow: 3, in_child: 2}
    os.kill(child, signal.SIGTERM)
    assert proc.ask("reap") == str(EXIT_EXPECTED), proc.stderr()
    assert dump_json(proc.pid)["pid"] == proc.pid  # the parent still answers
    proc.send("exit")
    assert proc.wait() == EXIT_EXPECTED, proc.stderr()


# ---- 8. an output directory that cannot be written ------------------------------------


@pytest.mark.parametrize("output", ["/proc", "/nonexistent/fdtrack", "FILE"])
def test_unwritable_output_dir_falls_back_to_the_private_default(build_c, live, output):
    """Reports then go where they go by default: this user's own directory in
    the temp dir, 0700, the files 0600."""
    program = build_c("live_ctl.c")
    if output == "FILE":
        output = str(program.path)  # a file, not a directory
    proc = live([program.path], env={"FDTRACK_OUTPUT": output})
    private = proc.out / f"fdtrack-{os.geteuid()}"  # proc.out is the run's TMPDIR
    proc.out = private
    proc.ask("open 2")
    os.kill(proc.pid, signal.SIGUSR1)
    (dump,) = proc.wait_for_dump("signal")
    assert dump["pid"] == proc.pid
    proc.ask("open 1")  # unaffected
    proc.send("exit")
    assert proc.wait() == EXIT_EXPECTED, proc.stderr()
    assert [d["trigger"] for d in proc.dumps()] == ["signal", "exit"]
    said = notices(proc, "FDTRACK_OUTPUT")
    assert len(said) == 1 and output in said[0] and str(private) in said[0], proc.stderr()
    assert not notices(proc, "could not write"), proc.stderr()
    assert private.stat().st_mode & 0o777 == 0o700
    assert {path.stat().st_mode & 0o777 for path in private.iterdir()} == {0o600}


# ---- the counts request (issue #11) ---------------------------------------------------


CONTROL_RING = 0x66647472  # report/control_channel.h


def ring(pid, signum=signal.SIGUSR1):
    """What a client does for a process with one thread, which no fdtrack
    thread listens for: sigqueue(3) its dump signal with the ring's value."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.sigqueue(pid, signum, ctypes.c_void_p(CONTROL_RING)) == 0, os.strerror(ctypes.get_errno())


def ask_socket(pid, request):
    """The control socket's answer to `request`, as a client other than the
    CLI sees it (docs/spec.md, "Control socket")."""
    import socket

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(20)
        s.connect(f"\0fdtrack.{pid}")
        s.sendall(request)
        ring(pid)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_the_counts_request_gives_each_sites_count_without_the_fds(build_c, live):
    proc = live([build_c("live_ctl.c").path], env={"FDTRACK_INTERVAL": "1"})
    proc.ask("open 30")
    proc.ask("other 5")
    proc.ask("pipe 3")
    counts = checked_json(ask_socket(proc.pid, b"counts\n"), "a counts answer")
    full = dump_json(proc.pid)
    assert counts["schema"] == "fdtrack-counts/1" and counts["trigger"] == "counts" and counts["fds"] == []
    assert counts["pid"] == proc.pid and counts["argv"] == full["argv"]

    def by_site(report):
        return {site["id"]: (site["call"], site["count"], site["frames"], site["python"])
                for site in report["sites"] if site["count"]}

    assert by_site(counts) == by_site(full)
    assert sorted(site["count"] for site in counts["sites"]) == [5, 6, 30], counts["sites"]
    known = [entry for entry in full["fds"] if entry["origin"] in ("tracked", "inherited")]
    assert counts["open_count"] == len(known), (counts["open_count"], len(known))
    assert counts["history"]["interval_s"] == 1
    assert all(site["history"][-1][1] == site["count"] for site in counts["sites"]), counts["sites"]
    # Anything else gets no answer; a full dump is still there.
    assert ask_socket(proc.pid, b"count\n") == b""
    assert json.loads(ask_socket(proc.pid, b"dump\n"))["schema"] == "fdtrack/1"
