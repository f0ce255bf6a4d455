"""Attach mode inside libfdtrack.so (issue #13, part B), without the
injector: test programs that start untracked dlopen libfdtrack.so and call
fdtrack_attach_start / fdtrack_detach_stop themselves, as `fdtrack attach`
makes the target do. The fds they leak afterwards are reported at their
lines; those open before are listed as before_attach, never as leaks."""

import re
import subprocess
import sys
from pathlib import Path

from conftest import CLI, EXIT_EXPECTED, LIBRARY, check_well_formed, load_report, python_markers, run_plain, run_preloaded

ATTACH = "../attach/"
HERE_ATTACH = Path(__file__).resolve().parent / "attach"


def count_at(report, source_name, line):
    return sum(site["count"] for site in report["sites"]
               if any(f.get("file", "").endswith(source_name) and f.get("line") == line for f in site["frames"]))


def test_attached_process_reports_its_leaks_and_the_fds_from_before(fdtrack_build, build_c, tmp_path):
    program = build_c(ATTACH + "attach_self.c", libs=("-ldl",))
    later = build_c(ATTACH + "attach_later.c", shared=True)
    result = run_plain([program.path, LIBRARY, tmp_path, later.path])
    assert result.returncode == EXIT_EXPECTED, result.stderr
    out = result.stdout
    first, second = sorted(tmp_path.glob("fdtrack.*.json"), key=lambda p: int(p.name.split(".")[2]))
    report, again = load_report(first), load_report(second)
    for r in (report, again):
        check_well_formed(r.data)

    # Leaks after attach, each at its line: a direct call, a function pointer
    # taken before the attach (GLOB_DAT), stdio, a socket, a library loaded later.
    for name, count in (("direct", 3), ("pointer", 1), ("socket", 1), ("stream", 1)):
        assert count_at(report.data, "attach_self.c", program.line("LEAK", name)) == count, name
    later_line = later.line("LEAK", "later")
    assert count_at(report.data, "attach_later.c", later_line) == 1
    assert count_at(report.data, "attach_self.c", program.line("CLOSED", "closed")) == 0

    # The fds open before the attach: described, no site, never leaks, counted apart.
    early = [int(n) for n in re.search(r"early (\d+) (\d+) (\d+) (\d+)", out).groups()]
    kinds = {fd["fd"]: fd for fd in report["fds"]}
    assert [kinds[fd]["kind"] for fd in early] == ["file", "pipe", "pipe", "socket"]
    assert kinds[early[0]]["target"] == "/etc/hostname"
    for fd in early:
        assert kinds[fd]["origin"] == "before_attach" and kinds[fd]["site"] is None and kinds[fd]["call"] is None
    before = [fd for fd in report["fds"] if fd["origin"] == "before_attach"]
    assert report["open_before_attach"] == len(before)
    assert all(fd["origin"] in ("tracked", "before_attach") for fd in report["fds"])

    # Detach left only the program's own fds, and the second attach starts
    # afresh: what was open then (the first period's leaks too) is before_attach.
    fds_before = set(re.search(r"fds before (.*)", out).group(1).split())
    fds_after = set(re.search(r"fds after (.*)", out).group(1).split())
    leaked = {str(fd["fd"]) for fd in report["fds"] if fd["origin"] == "tracked"}
    assert fds_after == fds_before | leaked
    between = int(re.search(r"between (\d+)", out).group(1))
    assert {fd["fd"]: fd["origin"] for fd in again["fds"]}[between] == "before_attach"
    assert [site["count"] for site in again["sites"]] == [1]
    assert count_at(again.data, "attach_self.c", program.line("LEAK", "second")) == 1
    assert "already attached" in out and "not attached" in out

    # Shown apart in the text report.
    text = subprocess.run([CLI, "report", first], capture_output=True, text=True, check=True).stdout
    assert f"{len(before)} fds open before it, not counted" in text
    assert "Open before attach (not counted)" in text
    print(re.findall(r"(attach|detach)_us (\d+)", out))


def test_dlopen_without_attach_changes_nothing_and_preload_refuses_attach(fdtrack_build, tmp_path):
    script = (
        "import ctypes, sys\n"
        "lib = ctypes.CDLL(sys.argv[1])\n"
        "message = ctypes.create_string_buffer(200)\n"
        "print(lib.fdtrack_attach_start(b'', message, ctypes.c_ulong(200)), message.value.decode())\n"
        "print(lib.fdtrack_detach_stop(message, ctypes.c_ulong(200)), message.value.decode())\n"
    )
    result = run_preloaded([sys.executable, "-c", script, LIBRARY])
    assert result.returncode == 0, result.stderr
    attach_line, detach_line = result.stdout.splitlines()
    assert attach_line.startswith("1 ") and "preloaded" in attach_line
    assert detach_line.startswith("1 ") and "preloaded" in detach_line


def test_attach_detach_cycles_under_load(fdtrack_build, build_c, tmp_path):
    program = build_c(ATTACH + "attach_cycles.c", libs=("-ldl", "-lpthread"))
    result = run_plain([program.path, LIBRARY, tmp_path], timeout=120)
    assert result.returncode == EXIT_EXPECTED, result.stdout + result.stderr


def test_python_frames_when_attached(fdtrack_build, interpreter, tmp_path):
    script = (HERE_ATTACH / "attach_python.py")
    result = run_plain(interpreter.command(script, LIBRARY, tmp_path))
    assert result.returncode == 0, result.stderr
    (path,) = tmp_path.glob("fdtrack.*.json")
    report = load_report(path)
    check_well_formed(report.data)
    markers = python_markers(script, "LEAK")
    counts = {}
    for site in report["sites"]:
        for frame in site["python"][:1]:
            if frame["file"] == str(script):
                counts[frame["line"]] = counts.get(frame["line"], 0) + site["count"]
    assert counts.get(markers["python-open"][0]) == 3, report["sites"]
    assert counts.get(markers["python-os-open"][0]) == 1
    early = int(re.search(r"early (\d+)", result.stdout).group(1))
    assert {fd["fd"]: fd["origin"] for fd in report["fds"]}[early] == "before_attach"



def test_passes_meet_half_loaded_objects_and_leave_protections_as_found(fdtrack_build, build_c, tmp_path):
    # Another thread dlopens libz, libbz2 and liblzma in a loop while the main
    # thread attaches and detaches: a pass lists objects ld.so has not
    # relocated yet, whose GOT it must not make read-only under ld.so. The
    # program's own writable RELRO page must stay writable; two threads
    # attaching at once get the busy answer instead of waiting; a detach
    # whose dump thread a silent `fdtrack dump` client holds answers 2 in
    # about 2 s, and the next detach finishes.
    program = build_c(ATTACH + "attach_dlopen_race.c", libs=("-ldl", "-lpthread"))
    result = run_plain([program.path, LIBRARY, tmp_path], timeout=120)
    assert result.returncode == EXIT_EXPECTED, result.stdout + result.stderr
    loads = int(re.search(r"^loads (\d+)$", result.stdout, re.M).group(1))
    busy = int(re.search(r"^busy (\d+)$", result.stdout, re.M).group(1))
    held = int(re.search(r"^held (\d+)$", result.stdout, re.M).group(1))
    assert loads > 0 and busy > 0 and held == 1, result.stdout
