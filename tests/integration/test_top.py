"""`fdtrack top PID` (issue #11): the sites of a live program, the growing
ones first. Plain snapshots (--once, --batch, and when stdout is not a
terminal) are read as a script would; the interactive screen is used as a
person would, in a tmux pane of a fixed size: keys sent with send-keys, the
screen read with capture-pane, polled until what is expected appears."""

import os
import re
import shutil
import subprocess
import threading
import time

import pytest

from conftest import CLI
from test_live import cli, dump_json, live  # noqa: F401 (live is a fixture)

ROW = re.compile(r"^\s*(\d+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(.+?)\s*$")


def rows(snapshot):
    """(count, rate, oldest, call, where) of each row under the column titles of one snapshot or screen."""
    lines = snapshot.splitlines()
    start = next((i for i, line in enumerate(lines) if line.lstrip().startswith("COUNT ")), len(lines))
    found = []
    for line in lines[start + 1 :]:
        match = ROW.match(line)
        if not match:
            break
        found.append(match.groups())
    return found


def row_at(snapshot, where):
    """The row whose WHERE column is `where` (None if absent)."""
    return next((row for row in rows(snapshot) if row[4] == where), None)


def grows(row):
    return row is not None and row[1].startswith("+")


def snapshots(text):
    return [part for part in re.split(r"(?m)^(?=fdtrack top: pid )", text) if part.strip()]


@pytest.fixture
def leaker(build_c, live):
    """live_ctl under the preload, sampling its history every second: (program, Live, where(marker))."""
    program = build_c("live_ctl.c")

    def start(**env):
        proc = live([program.path], env={"FDTRACK_INTERVAL": "1", **env})
        where = lambda marker: f"live_ctl.c:{program.line('LEAK', marker)} in leak_{marker}"  # noqa: E731
        return proc, where

    return start


def poll(what, get, check, timeout=60):
    """get() until check(value) holds; fails with the last value after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = get()
        if check(value):
            return value
        assert time.monotonic() < deadline, f"{what} after {timeout}s; last:\n{value}"
        time.sleep(0.2)


# ---- plain snapshots -------------------------------------------------------------------


def finish(top, timeout=60):
    """The rest of a running `fdtrack top`'s stdout (after what readline() took) and its stderr,
    once it exits; killed after `timeout` seconds. (communicate() would lose what readline buffered.)"""
    watchdog = threading.Timer(timeout, top.kill)
    watchdog.start()
    try:
        rest, errors = top.stdout.read(), top.stderr.read()
        top.wait()
    finally:
        watchdog.cancel()
    return rest, errors


def test_once_shows_the_growing_site_first(leaker):
    proc, where = leaker()
    proc.ask("other 30")
    opened = 0

    def once():
        nonlocal opened
        proc.ask("open 1")
        opened += 1
        result = cli("top", proc.pid, "--once")
        assert result.returncode == 0 and result.stderr == "", result
        return result.stdout

    # Growth shows once the history has sampled the site (every second here).
    text = poll("no growing site", once, lambda text: grows(row_at(text, where("grow"))))
    assert len(snapshots(text)) == 1 and text.startswith(f"fdtrack top: pid {proc.pid} ("), text
    assert "/live_ctl), " in text.splitlines()[0] and "  command: " in text, text
    assert re.search(rf"  fds: \d+/\d+ \(\d+%\) open, \S+/min; 2 sites, 1 growing\n", text), text
    # The growing site first, though the steady one holds more fds.
    assert rows(text)[0][4] == where("grow") and rows(text)[0][0] == str(opened), text
    steady = row_at(text, where("steady"))
    assert steady[0] == "30" and steady[1] == "0", text
    # --sort count: the largest first.
    by_count = cli("top", proc.pid, "--once", "--sort", "count").stdout
    assert [row[4] for row in rows(by_count)] == [where("steady"), where("grow")], by_count


def test_batch_takes_the_rate_between_snapshots_without_history(leaker):
    """FDTRACK_INTERVAL=0: no history, so the change comes from top's own snapshots."""
    proc, where = leaker(FDTRACK_INTERVAL="0")
    proc.ask("other 30")
    proc.ask("open 2")
    top = subprocess.Popen([CLI, "top", str(proc.pid), "--batch", "2", "--delay", "5"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    first = ""
    while (line := top.stdout.readline()) not in ("\n", ""):  # the header, up to its blank line
        first += line
    proc.ask("open 8")  # before the second snapshot, 5 s later
    rest, errors = finish(top)
    assert top.returncode == 0 and errors == "", errors
    first, second = snapshots(first + "\n" + rest)
    assert row_at(first, where("grow"))[:2] == ("2", "-"), first  # one look: not known yet
    assert rows(first)[0][4] == where("steady"), first
    assert rows(second)[0][4] == where("grow") and rows(second)[0][0] == "10", second
    assert grows(rows(second)[0]) and row_at(second, where("steady"))[1] == "0", second


def test_plain_snapshots_end_when_the_process_exits(leaker):
    """Not on a terminal and no --batch: snapshots until the process is gone (top -b), then status 1."""
    proc, where = leaker()
    proc.ask("open 3")
    top = subprocess.Popen([CLI, "top", str(proc.pid), "--delay", "0.5"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    first = top.stdout.readline()
    assert first.startswith(f"fdtrack top: pid {proc.pid} ("), first
    proc.send("exit")
    proc.wait()
    output, errors = finish(top)
    assert top.returncode == 1, (top.returncode, errors)
    assert errors == f"fdtrack top: process {proc.pid} has exited\n", errors
    assert row_at(output, where("grow"))[0] == "3", output


@pytest.mark.parametrize("args, message", [
    (["--delay", "0"], "--delay: must be a number of seconds from 0.1 to 3600"),
    (["--delay", "nan"], "--delay: must be a number of seconds from 0.1 to 3600"),
    (["-d", "soon"], "--delay: must be a number of seconds from 0.1 to 3600"),
    (["--batch", "0"], "--batch"),
    (["--once", "--batch", "2"], "--once excludes --batch"),
    (["--sort", "size"], "--sort: size not in {growth,count,oldest}"),
])
def test_bad_options_are_one_line_and_status_2(leaker, args, message):
    proc, _ = leaker()
    result = cli("top", proc.pid, *args)
    assert result.returncode == 2 and result.stdout == "", result
    assert result.stderr.startswith("fdtrack top: ") and message in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr


def test_a_process_that_cannot_be_watched_is_one_line_and_status_2(live):
    with open("/proc/sys/kernel/pid_max") as f:
        pid_max = int(f.read())
    missing = next(pid for pid in range(pid_max - 1, 1, -1) if not os.path.exists(f"/proc/{pid}"))
    result = cli("top", missing, "--once")
    assert result.returncode == 2 and result.stdout == "", result
    assert result.stderr == f"fdtrack top: no process with PID {missing}\n", result.stderr
    untracked = live(["sleep", "30"], preload=False)
    result = cli("top", untracked.pid, "--batch", "3")
    assert result.returncode == 2 and result.stdout == "", result
    assert "is not tracked" in result.stderr and "LD_PRELOAD" in result.stderr, result.stderr


def test_another_users_process_is_refused_at_once(build_c, live, other_user, shared_build):
    target = live([build_c("live_ctl.c").path])
    target.ask("open 1")
    result = other_user.run([shared_build.cli, "top", target.pid, "--once"])
    assert result.returncode == 2 and result.stdout == "", result
    assert result.stderr == (f"fdtrack top: process {target.pid} belongs to root (uid 0); "
                             "only that user or root may dump it\n"), result.stderr


# ---- the screen, in tmux ---------------------------------------------------------------


class Tmux:
    """One detached tmux session on a server of its own (never the user's),
    WIDTH x HEIGHT, whose pane stays after its command exits, with the
    command's exit status."""

    WIDTH, HEIGHT = 120, 40

    def __init__(self, tmp_path, command):
        assert shutil.which("tmux"), "tmux is missing (scripts/setup.sh installs Debian's tmux)"
        config = tmp_path / "tmux.conf"
        config.write_text("set -g remain-on-exit on\nset -g status off\n")
        self.server = str(tmp_path / f"tmux-{time.monotonic_ns()}.sock")  # gone with the test's directory
        self.env = {**os.environ, "LANG": "C.UTF-8", "TERM": "xterm"}
        self.tmux("-f", str(config), "new-session", "-d", "-s", "top", "-x", str(self.WIDTH), "-y",
                  str(self.HEIGHT), " ".join(map(str, command)) + '; echo "[exit status $?]"')

    def tmux(self, *args):
        result = subprocess.run(["tmux", "-u", "-S", self.server, *args], env=self.env, capture_output=True,
                                text=True, timeout=30)
        assert result.returncode == 0, f"tmux {' '.join(args)}: {result.stderr}"
        return result.stdout

    def screen(self):
        return self.tmux("capture-pane", "-p", "-t", "top")

    def everything(self):
        """All the pane held, scrolled off or not, wrapped lines joined."""
        return self.tmux("capture-pane", "-p", "-J", "-S", "-", "-t", "top")

    def keys(self, *keys):
        self.tmux("send-keys", "-t", "top", *keys)

    def wait_for(self, what, check, timeout=60):
        return poll(f"the screen shows no {what}", self.screen, check, timeout)

    def exit_status(self):
        """The command's exit status, None while it runs. (The shell around it says so: tmux's own
        #{pane_dead_status} is sometimes left empty for a command that exits at once.)"""
        said = re.search(r"^\[exit status (\d+)\]$", self.everything(), re.M)
        return int(said.group(1)) if said else None

    def wait_exit(self, timeout=30):
        return poll("exit", self.exit_status, lambda status: status is not None, timeout)

    def close(self):
        subprocess.run(["tmux", "-S", self.server, "kill-server"], capture_output=True)


@pytest.fixture
def tmux(tmp_path):
    started = []

    def start(*command):
        started.append(Tmux(tmp_path, command))
        return started[-1]

    yield start
    for session in started:
        session.close()


def test_the_screen_as_a_person_uses_it(leaker, tmux):
    proc, where = leaker()
    proc.ask("other 30")
    proc.ask("open 2")
    pane = tmux(CLI, "top", proc.pid)
    screen = pane.wait_for("sites", lambda s: row_at(s, where("grow")) and row_at(s, where("steady")))
    assert screen.startswith(f"fdtrack top: pid {proc.pid} ("), screen
    assert "Δ/MIN" in screen and "sort: growth" in screen, screen
    assert re.search(r"open \[[#.]{20}\]", screen), screen  # the fds against the limit

    # It grows, once the history has its count before (sampled every second);
    # a refresh (every 2 s) shows it, first.
    poll("no sample of the site's 2 fds", lambda: dump_json(proc.pid),
         lambda data: any(site["count"] == 2 and len(site.get("history", [])) >= 2 for site in data["sites"]))
    proc.ask("open 10")
    screen = pane.wait_for("growing site with 12 fds",
                           lambda s: row_at(s, where("grow")) and row_at(s, where("grow"))[0] == "12"
                           and grows(rows(s)[0]))
    assert rows(screen)[0][4] == where("grow") and row_at(screen, where("steady"))[:2] == ("30", "0"), screen

    # s: by count, the steady site's 30 first.
    pane.keys("s")
    screen = pane.wait_for("sort by count", lambda s: "sort: count" in s)
    assert [row[4] for row in rows(screen)] == [where("steady"), where("grow")], screen

    # Down to the second row, Enter: that site's stacks and its fds.
    pane.keys("Down", "Enter")
    screen = pane.wait_for("site's fds", lambda s: "fds open from this site" in s)
    assert re.search(rf"^site \d+: {re.escape(where('grow'))} \(", screen, re.M), screen
    assert "Native stack (innermost first):" in screen and " leak_grow " in screen, screen
    assert re.search(r"^12 fds open from this site, from a full dump at ", screen, re.M), screen
    assert len(re.findall(r"^  fd +\d+  \S+ +\S+  /dev/null", screen, re.M)) == 12, screen

    # Esc: back to the table, still by count; < goes back to growth.
    pane.keys("Escape")
    pane.wait_for("table", lambda s: "sort: count" in s and rows(s))
    pane.keys("<")
    pane.wait_for("sort by growth", lambda s: "sort: growth" in s)
    pane.keys("?")
    pane.wait_for("help", lambda s: "Keys" in s and "Enter " in s)
    pane.keys("x")
    pane.wait_for("table after the help", lambda s: "sort: growth" in s)

    # A smaller window: redrawn to its size, lines cut rather than wrapped
    # onto the next.
    pane.tmux("resize-window", "-t", "top", "-x", "60", "-y", "20")

    def laid_out_for_60_columns(screen):
        lines = screen.splitlines()
        return (len(lines) == 20 and lines[0].startswith(f"fdtrack top: pid {proc.pid} (")
                and lines[1].startswith("  command: ") and lines[2].startswith("  fds: ")
                and lines[3].startswith("sort: ") and [row[0] for row in rows(screen)] == ["12", "30"])

    pane.wait_for("table redrawn for 60 columns", laid_out_for_60_columns)

    pane.keys("q")
    assert pane.wait_exit() == 0, pane.screen()
    assert proc.proc.poll() is None  # the process watched runs on


def test_the_screen_keeps_the_last_view_when_the_process_exits(leaker, tmux):
    proc, where = leaker()
    proc.ask("open 4")
    pane = tmux(CLI, "top", proc.pid, "--delay", "0.5")
    pane.wait_for("site", lambda s: row_at(s, where("grow")))
    proc.send("exit")
    proc.wait()
    screen = pane.wait_for("notice", lambda s: f"process {proc.pid} has exited" in s)
    assert row_at(screen, where("grow"))[0] == "4", screen
    assert pane.exit_status() is None  # still there until q
    pane.keys("q")
    assert pane.wait_exit() == 0, pane.screen()


def test_the_screen_is_not_taken_for_a_process_that_cannot_be_watched(live, tmux):
    untracked = live(["sleep", "30"], preload=False)
    pane = tmux(CLI, "top", untracked.pid)
    assert pane.wait_exit() == 2
    said = pane.everything()
    assert f"fdtrack top: process {untracked.pid} is not tracked: " in said, said
