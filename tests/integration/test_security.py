"""Nobody else gets in (issue #9): what fdtrack reads and writes cannot be
planted, redirected or faked by another local user.

Names another user could predict are planted here by the test itself: the
library must not open them at all, so who planted them does not matter."""
import json
import os
import subprocess
from pathlib import Path

from conftest import CLI, HERE, LIBRARY, _environment, _run, load_report, python_markers

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


def leak_and_exit(out_env, tmp_path, timeout=30):
    """A Python program that leaks a file, run with plain LD_PRELOAD and
    `out_env` (FDTRACK_OUTPUT, TMPDIR...): (process, stderr)."""
    env = _environment({"LD_PRELOAD": str(LIBRARY), **out_env}, tmp_path)
    if "FDTRACK_OUTPUT" not in out_env:
        del env["FDTRACK_OUTPUT"]  # the default directory
    code = "keep = open('/etc/hostname'); print('done')"
    proc, stdout, stderr = _run(["/usr/bin/python3", "-I", "-c", code], env, tmp_path, timeout)
    assert (proc.returncode, stdout) == (0, "done\n"), stderr
    return proc, stderr


def test_planted_links_and_fifos_in_the_output_dir_are_not_followed(fdtrack_build, tmp_path, other_user, shared_tmp):
    """Rows 4, 5 and 12: another user plants, for the next pids, symlinks to a
    root-only file at every report name and temporary name a reader of the
    old code could guess, and FIFOs at others; a root program's report must
    neither overwrite the file, nor hang, nor be readable by that user."""
    victim = tmp_path / "root-only"
    victim.write_text("secret\n")
    victim.chmod(0o600)
    plant = ["/usr/bin/python3", "-I", "-c",
             "import os, sys\n"
             "d, victim, first, last = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])\n"
             "for pid in range(first, last):\n"
             "    for ext in ('json', 'txt'):\n"
             "        os.symlink(victim, f'{d}/fdtrack.{pid}.1.{ext}')\n"
             "        os.symlink(victim, f'{d}/fdtrack.{pid}.1.{ext}.tmp')\n"
             "        os.mkfifo(f'{d}/.fdtrack.{pid}.1.{ext}.tmp')\n"]
    pids = next_pids(300)
    planted = other_user.run(plant + [shared_tmp, victim, pids.start, pids.stop])
    assert planted.returncode == 0, planted.stderr

    proc, stderr = leak_and_exit({"FDTRACK_OUTPUT": str(shared_tmp)}, tmp_path)
    assert victim.read_text() == "secret\n", "a planted link redirected the report"
    report = shared_tmp / f"fdtrack.{proc.pid}.1.json"
    assert not report.is_symlink() and load_report(report)["trigger"] == "exit", stderr
    for path in (report, report.with_suffix(".txt")):
        assert path.stat().st_mode & 0o777 == 0o600 and path.stat().st_uid == 0
        assert other_user.run(["cat", path]).returncode != 0, f"{other_user.name} can read {path}"


def test_a_default_directory_someone_else_made_is_not_used(fdtrack_build, tmp_path, other_user, shared_tmp):
    """The default output directory's name can be predicted: if another user
    made it first (a directory of theirs, or a link), the reports go to a
    fresh private directory and stderr says so once."""
    squatted = shared_tmp / f"fdtrack-{os.geteuid()}"
    made = other_user.run(["mkdir", "-m", "777", squatted])
    assert made.returncode == 0, made.stderr
    env = {"TMPDIR": str(shared_tmp)}
    proc, stderr = leak_and_exit(env, tmp_path)
    assert not list(squatted.iterdir()), "reports were written into the other user's directory"
    (fresh,) = [path for path in shared_tmp.glob(f"fdtrack-{os.geteuid()}.*")]
    assert fresh.stat().st_uid == 0 and fresh.stat().st_mode & 0o777 == 0o700
    assert (fresh / f"fdtrack.{proc.pid}.1.json").exists(), stderr
    said = [line for line in stderr.splitlines() if "not a directory of this user's alone" in line]
    assert len(said) == 1 and str(squatted) in said[0] and str(fresh) in said[0], stderr


REFUSED_SIGNALS = ["SEGV", "BUS", "ILL", "FPE", "ABRT", "INT", "TERM", "PIPE", "KILL", "STOP", "HUP", "11", "SIGTERM"]


def test_a_signal_the_program_needs_is_never_the_dump_signal(fdtrack_build, tmp_path):
    """Row 11: a segfaulting program under FDTRACK_SIGNAL=SEGV spun forever
    writing reports. Each such value gets one stderr line and the default;
    the program dies of its own signal, as without fdtrack."""
    crash = ["/usr/bin/python3", "-I", "-c", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"]
    for name in REFUSED_SIGNALS:
        env = _environment({"LD_PRELOAD": str(LIBRARY), "FDTRACK_SIGNAL": name}, tmp_path)
        proc, stdout, stderr = _run(crash, env, tmp_path, 20)
        assert proc.returncode == -11, f"FDTRACK_SIGNAL={name}: exit {proc.returncode}\n{stderr}"
        said = [line for line in stderr.splitlines() if "FDTRACK_SIGNAL" in line]
        assert len(said) == 1 and name in said[0], stderr


def test_run_refuses_those_signals_with_a_clear_message(fdtrack_build):
    for name in REFUSED_SIGNALS:
        result = subprocess.run([CLI, "run", "--signal", name, "--", "/bin/true"],
                                capture_output=True, text=True, timeout=20)
        assert result.returncode == 2 and "cannot be the dump signal" in result.stderr, (name, result.stderr)
    accepted = subprocess.run([CLI, "run", "--signal", "RTMIN+2", "--", "/bin/true"],
                              capture_output=True, text=True, timeout=20)
    assert accepted.returncode == 0, accepted.stderr


def test_run_survives_an_unusable_tmpdir(fdtrack_build, tmp_path):
    env = _environment({"TMPDIR": "/nonexistent"}, tmp_path)
    proc, stdout, stderr = _run([CLI, "run", "--", "/usr/bin/python3", "-I", "-c", "print('ran')"], env, tmp_path, 30)
    assert (proc.returncode, stdout) == (0, "ran\n"), stderr
    assert "exit report" in stderr


def test_a_failed_exec_leaves_no_hand_over_behind(fdtrack_build, tmp_path):
    code = ("import os\n"
            "fd = os.open('/etc/hostname', os.O_RDONLY); os.set_inheritable(fd, True)\n"
            "try:\n    os.execv('/nonexistent/program', ['x'])\nexcept OSError:\n    pass\n"
            "print([os.readlink('/proc/self/fd/' + n) for n in os.listdir('/proc/self/fd')"
            " if os.path.exists('/proc/self/fd/' + n)])\n")
    env = _environment({"LD_PRELOAD": str(LIBRARY)}, tmp_path)
    proc, stdout, stderr = _run(["/usr/bin/python3", "-I", "-c", code], env, tmp_path, 30)
    assert proc.returncode == 0, stderr
    assert "/etc/hostname" in stdout and "memfd" not in stdout, stdout


def test_no_hand_over_reaches_a_static_binary(build_c, fdtrack_build, tmp_path):
    """A static binary never loads a preload: the hand-over memfd stayed open
    in it all its life."""
    lister = build_c("list_fds_static.c", cflags=("-static",))
    code = ("import os, sys\n"
            "fd = os.open('/etc/hostname', os.O_RDONLY); os.set_inheritable(fd, True)\n"
            "os.execv(sys.argv[1], [sys.argv[1]])\n")
    env = _environment({"LD_PRELOAD": str(LIBRARY)}, tmp_path)
    proc, stdout, stderr = _run(["/usr/bin/python3", "-I", "-c", code, lister.path], env, tmp_path, 30)
    assert proc.returncode == 0, stderr
    assert "/etc/hostname" in stdout and "memfd" not in stdout, stdout
