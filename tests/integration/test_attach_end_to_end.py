"""`fdtrack attach` with the real libfdtrack.so (issue #13): the example
leaky service started without fdtrack, driven, attached, driven again and
dumped names its two leaks at their Python lines with the count of requests
made after the attach, and lists the fds from before as `before_attach`; a C
server under steady load on loopback answers every request during and after
attach and detach, its leak line named while attached, nothing recorded after.
Skipped, saying so, while the built library has no attach entry."""

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from conftest import CLI, LIBRARY, LoopbackLoad, Report
from test_python_apis import EXAMPLES, OPEN_CALLS, PYTHONS, Service, counts_by_line, source_line


def library_can_attach():
    if not LIBRARY.exists():
        return False
    symbols = subprocess.run(["nm", "-D", "--defined-only", str(LIBRARY)], capture_output=True, text=True).stdout
    return " fdtrack_attach_start" in symbols and " fdtrack_detach_stop" in symbols


pytestmark = pytest.mark.skipif(not library_can_attach(),
                                reason=f"{LIBRARY} exports no fdtrack_attach_start/fdtrack_detach_stop yet "
                                       "(the library's attach mode, issue #13 part B)")


def fdtrack(*argv, output=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("FDTRACK_")}
    if output:
        env["FDTRACK_OUTPUT"] = str(output)
    return subprocess.run([str(CLI), *map(str, argv)], env=env, capture_output=True, text=True, timeout=60)


def dump(pid):
    result = fdtrack("dump", pid, "--json")
    assert result.returncode == 0, result.stderr
    return Report(json.loads(result.stdout))


def open_fds(pid):
    return {int(entry.name) for entry in Path(f"/proc/{pid}/fd").iterdir()}


def fds_but_connections(pid):
    """fd -> target of a busy server's fds, leaving out its sockets: under load
    connections open and close (and their numbers are reused) while we read."""
    targets = {}
    for fd in open_fds(pid):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except FileNotFoundError:
            continue  # closed since the listing
        if not target.startswith("socket:"):
            targets[fd] = target
    return targets


BEFORE, AFTER = 10, 20


@pytest.mark.parametrize("python", PYTHONS)
def test_leaky_service_attached_while_running(fdtrack_build, python, tmp_path):
    script = EXAMPLES / "leaky_service.py"
    loop_line = source_line(script, "asyncio.new_event_loop()")
    file_line = source_line(script, 'open("/etc/os-release")')
    with Service(script, python, tmp_path, preload=False) as service:
        assert [service.get(f"early{i}") for i in range(BEFORE)] == [200] * BEFORE, service.stderr()
        earlier = open_fds(service.pid)
        attach_started = time.monotonic()
        attached = fdtrack("attach", service.pid, output=tmp_path)
        assert attached.returncode == 0, attached.stderr
        assert [service.get(f"late{i}") for i in range(AFTER)] == [200] * AFTER, service.stderr()
        report = dump(service.pid)

        counts = counts_by_line(report, service.script)
        assert counts.get((loop_line, "epoll_create1")) == AFTER, counts
        assert counts.get((loop_line, "socketpair")) == 2 * AFTER, counts
        assert sum(n for (line, call), n in counts.items() if line == file_line and call in OPEN_CALLS) == AFTER
        # What was open before is listed, described, apart: never a leak of the tracked period.
        # (A number open then may have been closed since, its request's socket, and
        # reused by a later leak: then that fd was made after the attach.)
        since_attach = time.monotonic() - attach_started
        made_since = [entry for entry in report.fds if entry["origin"] == "tracked" and entry["age_s"] < since_attach]
        for entry in report.fds:
            if entry["fd"] in earlier and entry not in made_since:
                assert entry["origin"] == "before_attach", entry
        before = [entry for entry in report.fds if entry["origin"] == "before_attach"]
        assert len(before) >= 4 * BEFORE, report
        assert not [entry for entry in report.leaks() if entry["fd"] in earlier and entry not in made_since]

        detached = fdtrack("detach", service.pid)
        assert detached.returncode == 0, detached.stderr
        assert [service.get(f"after{i}") for i in range(5)] == [200] * 5, service.stderr()
        assert fdtrack("dump", service.pid, "--json").returncode == 2  # nothing answers any more


def test_c_server_under_load_attached_and_detached(fdtrack_build, build_c, tmp_path):
    server = build_c("attach_server.c", libs=("-lpthread",))
    leak_line = server.line("LEAK", "request")
    proc = subprocess.Popen([server.path], stdout=subprocess.PIPE, text=True, start_new_session=True)
    load = None
    try:
        port = int(proc.stdout.readline().split()[1])
        load = LoopbackLoad(port)
        load.wait_for(50)
        before = fds_but_connections(proc.pid)

        served_before_attach = load.served()
        attached = fdtrack("attach", proc.pid, output=tmp_path)
        assert attached.returncode == 0, attached.stderr
        served_after_attach = load.served()
        load.wait_for(len(load.answers) + 100)
        served_before_dump = load.served()
        report = dump(proc.pid)
        served_after_dump = load.served()  # the load goes on while the dump is made
        leaked = report.fds_from(server.source, leak_line, module=server.path)
        # Every request served wholly between the attach and the dump left one fd at the line,
        # and none served before the attach did.
        assert served_before_dump - served_after_attach - 1 <= len(leaked), report
        assert len(leaked) <= served_after_dump - served_before_attach, report

        detached = fdtrack("detach", proc.pid)
        assert detached.returncode == 0, detached.stderr
        load.wait_for(len(load.answers) + 100)
        load.stop()
        assert load.failures == [], load.failures[:5]
        assert proc.poll() is None
        assert fdtrack("dump", proc.pid, "--json").returncode == 2
        # fdtrack's own fds are gone (its socket: `dump` found nobody); the process's are as
        # they were, plus what it made since.
        now = fds_but_connections(proc.pid)
        assert {fd: now[fd] for fd in before if fd in now} == before
        assert {target for fd, target in now.items() if fd not in before} <= {"/dev/null"}
    finally:
        if load:
            load.stop()
        proc.kill()
        proc.wait()
