"""Nobody else gets in (issue #9): what fdtrack reads and writes cannot be
planted, redirected or faked by another local user.

Names another user could predict are planted here by the test itself: the
library must not open them at all, so who planted them does not matter."""
import json
import os
import subprocess
from pathlib import Path

from conftest import HERE, LIBRARY, _environment, _run, load_report, python_markers

EXEC_SCRIPT = HERE / "security" / "exec_with_inherited_fd.py"


def next_pids(count):
    """The pids the kernel hands out next (the last one given, plus 1...)."""
    last = int(Path("/proc/sys/kernel/ns_last_pid").read_text())
    return range(last + 1, last + 1 + count)


def test_exec_hand_over_uses_no_file_in_the_temp_dir(fdtrack_build, tmp_path):
    """Rows 1-3: hand-over files at every name of the next pids, as FIFOs (a
    reader or writer would hang) and as files naming an attacker's site; the
    fd that crosses the exec still gets the parent's line, and the new image
    is left no fd of fdtrack's making."""
    planted = tmp_path / "shared-tmp"
    planted.mkdir()
    forged = json.dumps({"identities": {}, "report": {"schema": "fdtrack/1", "fds": [], "sites": [
        {"id": 1, "count": 1, "call": "open", "frames": [{"function": "attacker_was_here", "file": "auth.c",
                                                          "line": 42, "module": "/x", "address": "0x1"}]}]}})
    for pid in next_pids(400):
        for name in (f"fdtrack-handover.{pid}.json", f"fdtrack-handover.from.{pid}.json"):
            os.mkfifo(planted / (name + ".tmp"))
            (planted / name).write_text(forged)
    out = tmp_path / "out"
    out.mkdir()
    env = _environment({"LD_PRELOAD": str(LIBRARY), "TMPDIR": str(planted)}, out)
    proc, stdout, stderr = _run(["/usr/bin/python3", "-I", EXEC_SCRIPT], env, tmp_path, 30)
    assert proc.returncode == 0, stderr
    said = json.loads(stdout)
    assert not [target for target in said["fds"].values() if "fdtrack-handover" in target], said["fds"]

    (report_path,) = out.glob(f"fdtrack.{proc.pid}.*.json")
    report = load_report(report_path)
    entry = report.fd(int(said["args"][0]))
    assert entry is not None and entry["origin"] == "tracked", repr(report)
    (line,) = python_markers(EXEC_SCRIPT, "LEAK")["across-exec"]
    assert any(frame["line"] == line for frame in report.python_of(entry)), repr(report)
    assert "attacker_was_here" not in report_path.read_text()


def test_no_hand_over_reaches_an_image_that_does_not_load_fdtrack(fdtrack_build, tmp_path):
    """An exec whose environment drops LD_PRELOAD gets no memfd it would
    never close."""
    env = _environment({"LD_PRELOAD": str(LIBRARY)}, tmp_path)
    proc, stdout, stderr = _run(["/usr/bin/python3", "-I", EXEC_SCRIPT, "--drop-preload"], env, tmp_path, 30)
    assert proc.returncode == 0, stderr
    targets = json.loads(stdout)["fds"].values()
    assert "/etc/hostname" in targets and not [t for t in targets if "memfd" in t], targets
