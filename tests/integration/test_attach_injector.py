"""`fdtrack attach` and `fdtrack detach` as an injector, with a stand-in for
libfdtrack.so (c/attach_entry.c, exporting the two entries and logging each
call): the entries are called in the target with the settings and a message
buffer; the thread that was borrowed goes back to its blocked read or accept
as if nothing happened, and signals that came meanwhile are delivered; a busy
multi-threaded process survives 100 attaches and detaches; and each refusal
leaves the target untouched (running, not traced, the same fds, nothing loaded)."""

import ctypes
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import CLI, LoopbackLoad, line_within
from test_python_apis import EXAMPLES, PYTHONS, Service

READ_TIMEOUT = 20


@pytest.fixture(scope="session")
def stand_in(build_c):
    """The stand-in library as `libfdtrack.so` in a directory of its own that
    every user can read (the target may be another user's)."""
    built = build_c("attach_entry.c", shared=True, libs=("-lpthread",))
    folder = Path(tempfile.mkdtemp(prefix="fdtrack-attach-", dir="/tmp"))
    folder.chmod(0o755)
    shutil.copy2(built.path, folder / "libfdtrack.so")
    (folder / "libfdtrack.so").chmod(0o755)
    yield folder / "libfdtrack.so"
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def target_program(build_c):
    return build_c("attach_target.c", libs=("-lpthread",)).path


@pytest.fixture(scope="session")
def shared_target(target_program, stand_in):
    """attach_target.c where another user can run it too."""
    path = stand_in.parent / "attach_target"
    shutil.copy2(target_program, path)
    path.chmod(0o755)
    return path


class Target:
    """c/attach_target.c (or any argv) running untracked, talked to by lines."""

    def __init__(self, argv, workdir, **popen):
        self.workdir = Path(workdir)
        self.proc = subprocess.Popen([str(a) for a in argv], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, start_new_session=True, **popen)
        self.pid = self.proc.pid

    def readline(self, timeout=READ_TIMEOUT):
        line = line_within(self.proc.stdout, timeout)
        assert line, f"no line from pid {self.pid} within {timeout}s (exit {self.proc.poll()})"
        return line.rstrip("\n")

    def send(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def echo(self, word):
        self.send(word)
        return self.readline()

    def fds(self):
        """fd -> what it points at (the busy workers' /dev/null come and go)."""
        found = {}
        for entry in Path(f"/proc/{self.pid}/fd").iterdir():
            try:
                target = os.readlink(entry)
            except FileNotFoundError:
                continue
            if target != "/dev/null":
                found[int(entry.name)] = target
        return found

    def status(self, field):
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return line.split(":", 1)[1].strip()
        return None

    def thread_names(self):
        names = []
        for task in Path(f"/proc/{self.pid}/task").iterdir():
            try:
                names.append((task / "comm").read_text().strip())
            except FileNotFoundError:
                pass
        return names

    def maps_mention(self, text):
        return text in Path(f"/proc/{self.pid}/maps").read_text()

    def assert_untouched(self, fds_before):
        """Running, not traced, its fds as before, nothing of fdtrack's loaded."""
        assert self.proc.poll() is None, f"pid {self.pid} died (exit {self.proc.returncode})"
        assert self.status("State")[0] in "SR", self.status("State")
        assert self.status("TracerPid") == "0"
        assert self.fds() == fds_before
        assert not self.maps_mention("libfdtrack")

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.pid, signal.SIGKILL)
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass


@pytest.fixture
def start(tmp_path, target_program):
    """start(mode) -> Target running attach_target.c in that mode, its first line read."""
    started = []

    def run(mode=None, argv=None, first="ready", **popen):
        target = Target(argv or [target_program, mode], tmp_path, **popen)
        started.append(target)
        if first:
            target.first = target.readline()
            assert target.first.startswith(first), target.first
        return target

    yield run
    for target in started:
        target.stop()


def fdtrack(command, pid, *options, library=None, output=None, prefix=(), timeout=60):
    """`fdtrack attach|detach PID OPTIONS` with FDTRACK_LIB=library (after `prefix`, a wrapper command)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FDTRACK_")}
    if library:
        env["FDTRACK_LIB"] = str(library)
    if output:
        env["FDTRACK_OUTPUT"] = str(output)
    argv = [*prefix, CLI, command, str(pid), *options]
    return subprocess.run([str(a) for a in argv], env=env, timeout=timeout, capture_output=True, text=True)


def log_lines(output):
    path = Path(output) / "attach-log.txt"
    return path.read_text().splitlines() if path.exists() else []


# ---- the calls ---------------------------------------------------------------------------


def test_attach_calls_the_entry_with_the_settings_and_detach_stops_it(start, stand_in, tmp_path):
    target = start("read")
    before = target.fds()
    attached = fdtrack("attach", target.pid, "--signal", "USR2", "--interval", "3", library=stand_in, output=tmp_path)
    assert attached.returncode == 0, attached.stderr
    assert f"tracking process {target.pid}" in attached.stdout and "was stopped for" in attached.stdout
    assert f"fdtrack detach {target.pid}" in attached.stdout
    (called,) = [line for line in log_lines(tmp_path) if line.startswith("attach ")]
    assert f"pid={target.pid} " in called and "size=512" in called
    settings = dict(item.split("=", 1) for item in called.split("settings=", 1)[1].split(" size=")[0].split(";") if item)
    assert settings == {"FDTRACK_OUTPUT": str(tmp_path), "FDTRACK_SIGNAL": "USR2", "FDTRACK_INTERVAL": "3"}
    assert "fdtrack" in target.thread_names() and target.status("TracerPid") == "0"

    detached = fdtrack("detach", target.pid, library=stand_in)
    assert detached.returncode == 0, detached.stderr
    assert f"process {target.pid} is no longer tracked" in detached.stdout and "was stopped for" in detached.stdout
    assert "detached" in log_lines(tmp_path)[-1]
    assert "fdtrack" not in target.thread_names()
    assert target.fds() == before
    assert target.echo("after") == "got after usr2=0"
    assert target.status("TracerPid") == "0"


def test_the_entries_answers_reach_the_user(start, stand_in, tmp_path):
    target = start("read")
    assert fdtrack("detach", target.pid, library=stand_in).returncode == 1
    assert fdtrack("attach", target.pid, library=stand_in, output=tmp_path).returncode == 0
    again = fdtrack("attach", target.pid, library=stand_in, output=tmp_path)
    assert again.returncode == 1
    assert again.stderr == (f"fdtrack attach: process {target.pid} is already tracked: attached before, by this "
                            "test library; nothing changed\n")
    assert fdtrack("detach", target.pid).returncode == 0
    twice = fdtrack("detach", target.pid)
    assert twice.returncode == 1
    assert twice.stderr == (f"fdtrack detach: process {target.pid} is not attached: never attached, by this test "
                            "library; nothing changed\n")
    # Attached again after a detach: the library already there is asked again, not loaded twice.
    assert fdtrack("attach", target.pid, library=stand_in, output=tmp_path).returncode == 0
    assert Path(f"/proc/{target.pid}/maps").read_text().count(str(stand_in)) >= 1

    failing = start("read")
    failed = fdtrack("attach", failing.pid, "--depth", "13", library=stand_in, output=tmp_path)
    assert failed.returncode == 2
    assert failed.stderr == (f"fdtrack attach: libfdtrack.so could not attach in process {failing.pid}: told to "
                             "fail (FDTRACK_DEPTH=13)\n")
    assert failing.echo("still") == "got still usr2=0"


def test_detach_of_a_process_never_attached_changes_nothing(start, stand_in):
    target = start("read")
    before = target.fds()
    result = fdtrack("detach", target.pid, library=stand_in)
    assert result.returncode == 1
    assert "libfdtrack.so is not loaded in it; nothing changed" in result.stderr
    target.assert_untouched(before)


# ---- the borrowed thread goes back where it was ---------------------------------------------


def test_a_thread_blocked_in_read_keeps_reading_unaware(start, stand_in, tmp_path):
    target = start("read")
    assert target.echo("one") == "got one usr2=0"
    for _ in range(3):
        assert fdtrack("attach", target.pid, library=stand_in, output=tmp_path).returncode == 0
        assert fdtrack("detach", target.pid).returncode == 0
    # The borrowed thread was the one blocked in read(0): EINTR would end it with "EINTR".
    assert all(f"tid={target.pid}" in line for line in log_lines(tmp_path)), log_lines(tmp_path)
    assert target.echo("two") == "got two usr2=0"
    assert target.echo("three") == "got three usr2=0"


def test_a_thread_waiting_in_epoll_wait_goes_on_waiting_unaware(start, stand_in, tmp_path):
    """The interrupt makes epoll_wait fail with EINTR where read restarts (signal(7)):
    with no signal for the program, the call is made again rather than fail."""
    target = start("epoll")
    assert target.echo("one") == "got one usr2=0"
    for _ in range(3):
        assert fdtrack("attach", target.pid, library=stand_in, output=tmp_path).returncode == 0
        assert fdtrack("detach", target.pid).returncode == 0
    assert target.echo("two") == "got two usr2=0"


def test_the_borrowed_threads_errno_is_put_back(start, stand_in, tmp_path):
    target = start("errno")
    assert target.echo("before") == "errno 7"
    # The stand-in's attach entry leaves EBADF in errno, as any libc call may.
    assert fdtrack("attach", target.pid, library=stand_in, output=tmp_path).returncode == 0
    assert target.echo("after") == "errno 7"


def connect_and_echo(port, word):
    with socket.create_connection(("127.0.0.1", port), timeout=READ_TIMEOUT) as conn:
        conn.sendall(word.encode() + b"\n")
        return conn.makefile().readline().rstrip("\n")


def test_a_thread_blocked_in_accept_keeps_accepting(start, stand_in, tmp_path):
    target = start("accept", first="port")
    line_port = int(target.first.split()[1])
    assert connect_and_echo(line_port, "before") == "got before usr2=0"
    assert fdtrack("attach", target.pid, library=stand_in, output=tmp_path).returncode == 0
    assert connect_and_echo(line_port, "attached") == "got attached usr2=0"
    assert fdtrack("detach", target.pid).returncode == 0
    assert connect_and_echo(line_port, "detached") == "got detached usr2=0"
    assert target.proc.poll() is None


def attach_sleeping_in_the_call(target, stand_in, tmp_path):
    """`fdtrack attach` started, once the stand-in sleeps 1 s inside its call (--depth 15)."""
    attaching = subprocess.Popen([CLI, "attach", str(target.pid), "--depth", "15"], text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 env=dict(os.environ, FDTRACK_LIB=str(stand_in), FDTRACK_OUTPUT=str(tmp_path)))
    deadline = time.monotonic() + READ_TIMEOUT
    while not any(line.startswith("sleeping") for line in log_lines(tmp_path)):
        assert time.monotonic() < deadline and attaching.poll() is None, attaching.communicate()
        time.sleep(0.01)
    return attaching


def test_a_signal_sent_during_the_call_is_delivered_after_it(start, stand_in, tmp_path):
    target = start("read")
    attaching = attach_sleeping_in_the_call(target, stand_in, tmp_path)
    os.kill(target.pid, signal.SIGUSR2)
    stdout, stderr = attaching.communicate(timeout=60)
    assert attaching.returncode == 0, stderr
    # Counted once by the program's handler, and its read restarted (SA_RESTART), not failed.
    assert target.echo("x") == "got x usr2=1"


def test_a_signal_queued_during_the_call_keeps_its_value(start, stand_in, tmp_path):
    """Held pending while the call runs (the thread's mask), not taken and sent
    again: a timer's or sigqueue's value reaches the handler."""
    target = start("read")
    attaching = attach_sleeping_in_the_call(target, stand_in, tmp_path)
    subprocess.run(["/usr/bin/kill", "--queue", "4242", "-USR2", str(target.pid)], check=True)
    stdout, stderr = attaching.communicate(timeout=60)
    assert attaching.returncode == 0, stderr
    assert target.echo("value") == "value 4242"
    assert target.echo("x") == "got x usr2=1"


def test_a_call_that_does_not_return_is_abandoned_and_the_thread_put_back(start, stand_in, tmp_path):
    target = start("read")
    # --depth 14: the stand-in blocks for 5 s, longer than --timeout.
    result = fdtrack("attach", target.pid, "--depth", "14", "--timeout", "1", library=stand_in, output=tmp_path)
    assert result.returncode == 2
    assert f"the call in process {target.pid} did not return within 1 s" in result.stderr
    assert target.status("TracerPid") == "0"
    assert target.echo("back") == "got back usr2=0"


def test_a_busy_multithreaded_process_survives_100_attaches_and_detaches(start, stand_in, tmp_path):
    target = start("busy")
    before = target.fds()
    counts = [int(target.echo("count").split()[1])]
    for round in range(100):
        attached = fdtrack("attach", target.pid, library=stand_in, output=tmp_path)
        assert attached.returncode == 0, f"round {round}: {attached.stderr}"
        detached = fdtrack("detach", target.pid)
        assert detached.returncode == 0, f"round {round}: {detached.stderr}"
    counts.append(int(target.echo("count").split()[1]))
    time.sleep(0.2)
    counts.append(int(target.echo("count").split()[1]))
    assert counts[0] < counts[1] < counts[2], counts  # the workers kept working and still do
    assert target.fds() == before
    assert target.status("TracerPid") == "0"
    assert sorted(target.thread_names()) == ["attach_target"] * 5
    assert len([line for line in log_lines(tmp_path) if line.startswith("detached")]) == 100


def test_a_server_under_load_misses_no_request_across_attaches(build_c, stand_in, tmp_path):
    server = build_c("attach_server.c", libs=("-lpthread",))
    proc = subprocess.Popen([server.path], stdout=subprocess.PIPE, text=True, start_new_session=True)
    load = None
    try:
        load = LoopbackLoad(int(proc.stdout.readline().split()[1]))
        load.wait_for(20)
        for _ in range(20):
            assert fdtrack("attach", proc.pid, library=stand_in, output=tmp_path).returncode == 0
            load.wait_for(len(load.answers) + 5)
            assert fdtrack("detach", proc.pid).returncode == 0
            load.wait_for(len(load.answers) + 5)
        load.stop()
        assert load.failures == [], load.failures[:5]
        assert proc.poll() is None
        # Its main thread, waiting in accept4, was the one borrowed each time.
        assert {line.split()[2] for line in log_lines(tmp_path)} == {f"tid={proc.pid}"}
    finally:
        if load:
            load.stop()
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("python", PYTHONS)
def test_a_python_service_keeps_answering_across_attaches(stand_in, python, tmp_path):
    with Service(EXAMPLES / "leaky_service.py", python, tmp_path, preload=False) as service:
        for i in range(5):
            assert fdtrack("attach", service.pid, library=stand_in, output=tmp_path).returncode == 0
            assert service.get(f"attached{i}") == 200
            assert fdtrack("detach", service.pid).returncode == 0
            assert service.get(f"detached{i}") == 200
        assert service.proc.poll() is None


# ---- refusals: one line naming the cause and the fix, the target untouched ------------------


def test_no_such_process(stand_in):
    proc = subprocess.Popen(["true"])
    proc.wait()
    result = fdtrack("attach", proc.pid, library=stand_in)
    assert result.returncode == 2
    assert result.stderr == f"fdtrack attach: no process with PID {proc.pid}\n"


def test_a_zombie_is_refused(stand_in):
    proc = subprocess.Popen(["true"])
    deadline = time.monotonic() + READ_TIMEOUT
    while Path(f"/proc/{proc.pid}/stat").read_text().split(") ")[1][0] != "Z":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    for command in ("attach", "detach"):
        result = fdtrack(command, proc.pid, library=stand_in)
        assert result.returncode == 2
        assert result.stderr == (f"fdtrack {command}: process {proc.pid} has exited; it is a zombie until its "
                                 "parent reaps it\n")
    proc.wait()


def test_a_process_with_no_thread_waiting_is_left_alone(start, stand_in, tmp_path):
    target = start("spin")
    before = target.fds()
    result = fdtrack("attach", target.pid, "--timeout", "0.5", library=stand_in, output=tmp_path)
    assert result.returncode == 2
    assert re.fullmatch(rf"fdtrack attach: no thread of process {target.pid} was waiting in a system call .* "
                        r"within 0\.5 s: .*deadlock the target; nothing was changed, try again when it is less "
                        r"busy\n", result.stderr), result.stderr
    target.assert_untouched(before)
    assert log_lines(tmp_path) == []


def test_a_statically_linked_program_is_refused(build_c, stand_in, start, tmp_path):
    static = build_c("attach_target.c", cflags=("-static",), libs=("-lpthread",)).path
    target = start(argv=[static, "read"])
    before = target.fds()
    result = fdtrack("attach", target.pid, library=stand_in, output=tmp_path)
    assert result.returncode == 2
    assert f"process {target.pid} is statically linked" in result.stderr
    assert "fdtrack can only track dynamically linked programs" in result.stderr
    target.assert_untouched(before)


def test_a_library_without_the_attach_entry_is_never_loaded(start, tmp_path):
    # An older libfdtrack.so would start tracking as it loads, outside attach's contract.
    older = tmp_path / "old" / "libfdtrack.so"
    older.parent.mkdir()
    made = subprocess.run(["cc", "-shared", "-fPIC", "-x", "c", "/dev/null", "-o", str(older)], capture_output=True,
                          text=True)
    assert made.returncode == 0, made.stderr
    target = start("read")
    before = target.fds()
    result = fdtrack("attach", target.pid, library=older, output=tmp_path)
    assert result.returncode == 2
    assert result.stderr == (f"fdtrack attach: {older} exports no fdtrack_attach_start: it is a libfdtrack.so that "
                             "cannot attach (an older build?); set FDTRACK_LIB to one that can\n")
    target.assert_untouched(before)


def test_a_32_bit_program_is_refused(stand_in, start, tmp_path):
    binary = tmp_path / "target32"
    made = subprocess.run(["cc", "-m32", "-x", "c", "-", "-o", str(binary)], input=(
        '#include <unistd.h>\nint main(void) { char c; write(1, "ready\\n", 6); return (int)read(0, &c, 1); }\n'),
        capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"no 32-bit toolchain (gcc-multilib): {made.stderr.strip()[:200]}")
    target = start(argv=[binary])
    before = target.fds()
    result = fdtrack("attach", target.pid, library=stand_in, output=tmp_path)
    assert result.returncode == 2
    assert f"process {target.pid} is not a 64-bit x86_64 program (32-bit)" in result.stderr
    target.assert_untouched(before)


def wait_for_control_socket(pid):
    deadline = time.monotonic() + READ_TIMEOUT
    while f"@fdtrack.{pid}\n" not in Path("/proc/net/unix").read_text():
        assert time.monotonic() < deadline, f"pid {pid} never listened on @fdtrack.{pid}"
        time.sleep(0.02)


def test_a_process_under_the_preload_is_already_tracked(start, target_program, fdtrack_build, tmp_path):
    from conftest import LIBRARY

    env = dict(os.environ, LD_PRELOAD=str(LIBRARY), FDTRACK_OUTPUT=str(tmp_path))
    target = start(argv=[target_program, "read"], env=env)
    # The preloaded library listens once its dump thread runs; the first fd it sees starts it.
    target.echo("wake")
    wait_for_control_socket(target.pid)
    before = target.fds()
    result = fdtrack("attach", target.pid, library=LIBRARY)
    assert result.returncode == 1
    assert result.stderr.startswith(f"fdtrack attach: process {target.pid} is already tracked")
    assert "nothing changed" in result.stderr
    assert target.status("TracerPid") == "0" and target.fds() == before
    assert target.echo("still") == "got still usr2=0"


def test_a_process_traced_by_another_is_refused(start, stand_in, tmp_path):
    target = start("read")
    before = target.fds()
    libc = ctypes.CDLL(None, use_errno=True)
    PTRACE_SEIZE, PTRACE_DETACH = 0x4206, 17
    assert libc.ptrace(PTRACE_SEIZE, target.pid, None, None) == 0, os.strerror(ctypes.get_errno())
    result = fdtrack("attach", target.pid, library=stand_in, output=tmp_path)
    assert result.returncode == 2
    assert (f"process {target.pid} is already traced by process {os.getpid()}" in result.stderr
            and "detach that one first" in result.stderr), result.stderr
    assert target.fds() == before and not target.maps_mention("libfdtrack")
    libc.ptrace(PTRACE_DETACH, target.pid, None, None)  # fails unless stopped; the kill in stop() ends it anyway


def test_another_users_process_is_refused_and_root_may_attach_to_any(start, stand_in, target_program, shared_target,
                                                                       other_user, shared_build, shared_tmp):
    mine = start(argv=[target_program, "read"])
    before = mine.fds()
    # The other user runs a copy of the CLI it can reach, with the stand-in library.
    refused = other_user.run([shared_build.cli, "attach", str(mine.pid)],
                             env={"FDTRACK_LIB": str(stand_in), "FDTRACK_OUTPUT": str(shared_tmp), "PATH": "/usr/bin:/bin"})
    assert refused.returncode == 2
    assert refused.stderr == (f"fdtrack attach: process {mine.pid} belongs to root (uid 0); only that user or root "
                              "may attach to it\n")
    mine.assert_untouched(before)

    theirs = start(argv=[shared_target, "read"], user=other_user.uid, group=other_user.gid, extra_groups=[], cwd="/")
    attached = fdtrack("attach", theirs.pid, library=stand_in, output=shared_tmp)
    assert attached.returncode == 0, attached.stderr
    assert fdtrack("detach", theirs.pid).returncode == 0
    assert theirs.echo("ok") == "got ok usr2=0"


def test_an_undumpable_process_of_ones_own_is_refused(start, stand_in, shared_target, other_user, shared_build,
                                                      shared_tmp):
    theirs = start(argv=[shared_target, "undumpable"], user=other_user.uid, group=other_user.gid, extra_groups=[],
                   cwd="/")
    before = theirs.fds()
    refused = other_user.run([shared_build.cli, "attach", str(theirs.pid)],
                             env={"FDTRACK_LIB": str(stand_in), "FDTRACK_OUTPUT": str(shared_tmp), "PATH": "/usr/bin:/bin"})
    assert refused.returncode == 2
    assert refused.stderr.startswith(f"fdtrack attach: the kernel does not let fdtrack look into process {theirs.pid} "
                                     "(Permission denied): it is not dumpable"), refused.stderr
    theirs.assert_untouched(before)


def test_root_without_cap_sys_ptrace_is_refused(start, stand_in, target_program, shared_target, other_user,
                                                shared_tmp):
    if not shutil.which("setpriv"):
        pytest.skip("setpriv (util-linux) not found: cannot drop CAP_SYS_PTRACE")
    no_ptrace = ("setpriv", "--inh-caps=-sys_ptrace", "--bounding-set=-sys_ptrace")
    theirs = start(argv=[shared_target, "read"], user=other_user.uid, group=other_user.gid, extra_groups=[], cwd="/")
    mine = start(argv=[target_program, "read"])
    for target, cause in ((theirs, f"belongs to {other_user.name} (uid {other_user.uid}) and fdtrack runs as root "
                                   "without CAP_SYS_PTRACE"),
                          (mine, "holds capabilities fdtrack lacks, and fdtrack has no CAP_SYS_PTRACE")):
        before = target.fds()
        result = fdtrack("attach", target.pid, library=stand_in, output=shared_tmp, prefix=no_ptrace)
        assert result.returncode == 2, result.stderr
        assert f"process {target.pid} {cause}" in result.stderr and "--cap-add=SYS_PTRACE" in result.stderr
        target.assert_untouched(before)


def test_yama_ptrace_scope_is_named():
    if not Path("/proc/sys/kernel/yama/ptrace_scope").exists():
        pytest.skip("this kernel has no yama LSM (/proc/sys/kernel/yama/ptrace_scope): nothing to refuse")
    pytest.skip("yama present: its refusal is exercised only where ptrace_scope can be changed (not here)")


def unshared(target_program, hidden, setup):
    """argv that runs attach_target.c in a new mount namespace where `setup` ran first over `hidden`."""
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c",
            f"mount -t tmpfs fdtrack-test {hidden} && {setup} exec {target_program} read"]


@pytest.mark.parametrize("setup, cause", [
    ("", "cannot see"),
    ("cp /bin/true {hidden}/libfdtrack.so &&", "sees another file at"),
])
def test_a_library_the_target_cannot_see_is_refused(start, stand_in, target_program, tmp_path, setup, cause):
    if not shutil.which("unshare"):
        pytest.skip("unshare (util-linux) not found")
    hidden = stand_in.parent
    target = start(argv=unshared(target_program, hidden, setup.format(hidden=hidden)))
    before = target.fds()
    result = fdtrack("attach", target.pid, library=stand_in, output=tmp_path)
    assert result.returncode == 2
    assert f"process {target.pid} {cause} {stand_in}" in result.stderr, result.stderr
    assert "another mount namespace or root" in result.stderr and "FDTRACK_LIB" in result.stderr
    target.assert_untouched(before)


@pytest.mark.parametrize("loose", ["directory", "file"])
def test_a_library_others_may_change_is_refused(start, stand_in, tmp_path, loose):
    """The target would run whatever that file holds when it loads it: one that a third
    user may replace (or rename the directory around) is never loaded."""
    folder = tmp_path / "lib"
    folder.mkdir()
    library = folder / "libfdtrack.so"
    shutil.copy(stand_in, library)
    (folder if loose == "directory" else library).chmod(0o777)
    target = start("read")
    before = target.fds()
    result = fdtrack("attach", target.pid, library=library, output=tmp_path)
    assert result.returncode == 2, result.stderr
    changeable = folder if loose == "directory" else library
    assert f"{changeable} may be changed by someone other than root and the user of process {target.pid}" \
        in result.stderr, result.stderr
    target.assert_untouched(before)
    changeable.chmod(0o755)
    assert fdtrack("attach", target.pid, library=library, output=tmp_path).returncode == 0


def test_a_process_under_a_seccomp_filter_is_refused(start, stand_in, tmp_path):
    """Its filter may kill it for a call the library makes that it never does."""
    target = start("seccomp")
    assert target.status("Seccomp") == "2"
    before = target.fds()
    result = fdtrack("attach", target.pid, library=stand_in, output=tmp_path)
    assert result.returncode == 2
    assert f"process {target.pid}" in result.stderr and "runs under a seccomp filter" in result.stderr, result.stderr
    target.assert_untouched(before)
