"""fdtrack inside a program must not change what the program sees: threads,
fork, vfork, spawn, signals, errno, fd numbers, programs that close every fd,
and libraries loaded at run time."""

import pytest

from conftest import EXIT_EXPECTED, own_fd_floor, run_fdtrack



def leak_lines(report, program, marker):
    return report.fds_from(program.source, program.line("LEAK", marker), module=program.path)


# ---- (a) threads ------------------------------------------------------------------


def test_threads_churning_fds_leave_an_exact_report(build_c, fdtrack_run, tmp_path):
    program = build_c("churn.c", cflags=("-pthread",))
    listing = tmp_path / "listing.txt"
    result = fdtrack_run([program.path, listing], timeout=90)
    assert result.returncode == 0, result.describe()

    lines = dict(line.split(" ", 1) for line in listing.read_text().splitlines())
    listed = {int(fd) for fd in lines["open"].split()}
    leaked = {int(fd) for fd in lines["leaked"].split()}
    assert len(leaked) == 8 * 5

    report = result.report
    # The program's listing also shows fdtrack's own fds, which the report hides.
    own = {fd for fd in listed if fd >= own_fd_floor(report["rlimit_nofile"])}
    assert report.open_fds() == listed - own, repr(report)
    assert {entry["fd"] for entry in report.leaks()} == leaked, repr(report)
    assert report["open_count"] == len(listed - own)
    for entry in report.leaks():
        frame = report.first_frame_in(entry, program.path)
        # The threads' opens live in the shared worker pool the program includes.
        assert frame and frame["file"] == str(program.source.parent / "fd_worker.h"), entry


def test_a_thread_cancelled_inside_a_hook_unwinds_as_without_fdtrack(build_c, fdtrack_run):
    """glibc unwinds a cancelled thread through libgcc_s, which runs the
    cleanup of the hook's frame with the unwinder linked into libfdtrack.so:
    that copy aborted the program unless it had set itself up. The thread's
    cleanup handler then closes its fd, and fdtrack sees that close."""
    program = build_c("cancel.c", cflags=("-pthread",))
    result = fdtrack_run([program.path], timeout=30)
    assert result.returncode == EXIT_EXPECTED, result.describe()
    opened = program.line("OPENED", "closed-by-cleanup")
    assert not result.report.fds_from(program.source, opened, module=program.path), repr(result.report)
    assert not result.report.leaks(), repr(result.report)


def test_a_thread_cancelled_inside_a_hook_of_a_process_not_tracked_unwinds(build_c, preload_run):
    """The same in an exec'd child that fdtrack does not follow (FDTRACK_PID
    names another process): the library is loaded, its hooks are in every
    call, but its constructor stopped at once and never set up the linked
    unwinder (issue #10, item 8); the personality routine's wrapper does it
    on first use (preload/entry/personality.cpp)."""
    program = build_c("cancel.c", cflags=("-pthread",))
    result = preload_run([program.path], env={"FDTRACK_PID": "1"}, timeout=30)
    assert result.returncode == EXIT_EXPECTED, result.describe()
    assert not result.reports, "a process that is not followed writes no report"


# ---- (b) fork -----------------------------------------------------------------------


def test_forked_child_reports_its_own_and_inherited_fds(build_c, preload_run):
    program = build_c("fork.c")
    result = preload_run([program.path])
    assert result.returncode == EXIT_EXPECTED, result.describe()
    child_pid = int(result.stdout.split()[0])
    parent, child = result.report, result.reports.get(child_pid)
    assert parent is not None and child is not None, f"reports: {sorted(result.reports)}"
    assert child.pid == child_pid and parent.pid != child_pid

    # The child inherits the parent's records, with the parent's stack.
    inherited = leak_lines(child, program, "before-fork")
    assert len(inherited) == 1 and inherited[0]["origin"] == "tracked", repr(child)
    frames = child.frames_of(inherited[0])
    assert [f["function"] for f in frames[:2]] == ["open_before_fork", "main"], frames
    assert len(leak_lines(child, program, "in-child")) == 1, repr(child)
    assert not leak_lines(child, program, "parent-after-fork"), repr(child)

    assert len(leak_lines(parent, program, "before-fork")) == 1, repr(parent)
    assert len(leak_lines(parent, program, "parent-after-fork")) == 1, repr(parent)
    assert not leak_lines(parent, program, "in-child"), repr(parent)


# ---- (c) vfork + exec ---------------------------------------------------------------


@pytest.mark.parametrize("action", ["close_range", "close", "dup2"])
def test_vfork_child_does_not_touch_parent_records(build_c, preload_run, action):
    program = build_c("vfork.c")
    result = preload_run([program.path, action])
    assert result.returncode == EXIT_EXPECTED, result.describe()
    report = result.report
    assert report is not None, result.describe()
    for marker in ("parent-first", "parent-second"):
        found = leak_lines(report, program, marker)
        assert len(found) == 1 and found[0]["call"] == "open", f"{marker}\n{report!r}"
    assert report.fd(50) is None, repr(report)
    assert len(report.leaks()) == 2, repr(report)
    # /bin/true, exec'd with the preload inherited, is not followed by default.
    assert set(result.reports) == {report.pid}


# ---- (d) posix_spawn and system() ---------------------------------------------------


def test_spawned_children_are_not_tracked_by_default(build_c, fdtrack_run, preload_run):
    program = build_c("spawn.c")
    via_cli = fdtrack_run([program.path])
    assert via_cli.returncode == EXIT_EXPECTED, via_cli.describe()
    assert len(leak_lines(via_cli.report, program, "before-spawn")) == 1, repr(via_cli.report)

    result = preload_run([program.path])
    assert result.returncode == EXIT_EXPECTED, result.describe()
    assert set(result.reports) == {result.report.pid}, "an exec'd child wrote a report"
    assert len(leak_lines(result.report, program, "before-spawn")) == 1
    assert len(result.report.leaks()) == 1, repr(result.report)


def test_spawned_children_are_tracked_when_followed(build_c, preload_run):
    program = build_c("spawn.c")
    result = preload_run([program.path], env={"FDTRACK_FOLLOW_CHILDREN": "1"})
    assert result.returncode == EXIT_EXPECTED, result.describe()
    spawned = int(result.stdout.split()[0])
    assert spawned in result.reports, f"no report from the spawned child; reports: {sorted(result.reports)}"
    assert result.reports[spawned]["argv"] == ["true"]
    assert len(leak_lines(result.report, program, "before-spawn")) == 1


# ---- (e) errno ----------------------------------------------------------------------


def test_errno_is_what_libc_sets(build_c, fdtrack_run, plain_run):
    program = build_c("errno.c")
    plain = plain_run([program.path])
    assert plain.returncode == 0, plain.describe()
    tracked = fdtrack_run([program.path])
    assert tracked.returncode == 0, tracked.describe()
    assert tracked.stdout == plain.stdout


# ---- (f) fd numbers -----------------------------------------------------------------


def test_fd_numbers_are_the_same_as_without_fdtrack(build_c, fdtrack_run, preload_run, plain_run):
    program = build_c("fdnums.c")
    plain = plain_run([program.path])
    assert plain.returncode == 0, plain.describe()
    assert plain.stdout.split()[:5] == ["3", "4", "5", "6", "7"]
    for run in (fdtrack_run, preload_run):
        tracked = run([program.path])
        assert tracked.returncode == 0, tracked.describe()
        assert tracked.stdout == plain.stdout


# ---- (g) closing every fd -----------------------------------------------------------


def test_program_closing_every_fd_keeps_fdtrack_working(build_c, fdtrack_run):
    program = build_c("closeall.c")
    result = fdtrack_run([program.path], timeout=30)
    assert result.returncode == EXIT_EXPECTED, result.describe()
    report = result.report
    assert report is not None, result.describe()
    found = leak_lines(report, program, "after-closing-all")
    assert [entry["fd"] for entry in found] == [3], repr(report)
    for marker, lines in program.markers("CLOSED").items():
        for line in lines:
            assert not report.fds_from(program.source, line), f"{marker}\n{report!r}"
    assert len(report.leaks()) == 1, repr(report)


# ---- (h) signals --------------------------------------------------------------------


def test_hooks_in_signal_handlers_do_not_deadlock(build_c, fdtrack_run):
    program = build_c("signals.c")
    result = fdtrack_run([program.path], timeout=30)
    assert result.returncode == EXIT_EXPECTED, result.describe()
    report = result.report
    assert len(leak_lines(report, program, "after-signals")) == 1, repr(report)
    assert len(report.leaks()) == 1, repr(report)


# ---- (i) dlopen ---------------------------------------------------------------------


def test_fd_opened_by_a_dlopened_constructor_is_reported(build_c, fdtrack_run):
    library = build_c("opener.c", shared=True)
    program = build_c("dlopen.c", libs=("-ldl",))
    result = fdtrack_run([program.path, library.path])
    assert result.returncode == EXIT_EXPECTED, result.describe()
    fd = int(result.stdout.split()[0])
    found = leak_lines(result.report, library, "constructor")
    assert [entry["fd"] for entry in found] == [fd], repr(result.report)
    frame = result.report.first_frame_in(found[0], library.path)
    assert frame["function"] == "open_at_load"


# ---- (j) custom allocators ------------------------------------------------------------


def test_hook_inside_a_custom_allocators_initialisation(build_c, fdtrack_run):
    """The allocator's init opens a file through our hook before malloc can
    serve: resolving the real open and recording must not allocate."""
    program = build_c("custom_malloc.c", cflags=("-pthread",))
    result = fdtrack_run([program.path], timeout=30)
    assert result.returncode == EXIT_EXPECTED, result.describe()
    for marker in ("allocator-init", "after-init"):
        (entry,) = leak_lines(result.report, program, marker)
        assert entry["origin"] == "tracked" and entry["call"] == "open", repr(result.report)


# ---- (k) hooks before fdtrack's own constructor -----------------------------------------


def test_hook_runs_before_fdtracks_constructor(build_c, fdtrack_run):
    """A needed library's constructor runs before libfdtrack.so's: its fd is
    still tracked, at the constructor's line, and it is the fd the program
    gets without fdtrack (what fdtrack or libunwind create that early must not
    take the program's lowest numbers)."""
    library = build_c("opener.c", shared=True)
    program = build_c("early.c", libs=(f"-L{library.path.parent}", "-lopener", f"-Wl,-rpath,{library.path.parent}"))
    result = fdtrack_run([program.path], timeout=30)
    assert result.returncode == EXIT_EXPECTED, result.describe()
    fd = int(result.stdout.split()[0])
    assert fd == 3, f"the constructor's open() got fd {fd}, not 3 as without fdtrack"
    entry = result.report.fd(fd)
    assert entry["origin"] == "tracked", repr(result.report)
    assert result.report.fds_from(library.source, library.line("LEAK", "constructor"), module=library.path)


# ---- (l) an fd leaked across exec keeps its allocation site -------------------------------

EXEC_VARIANTS = ["execl", "execle", "execlp", "execv", "execve", "execvp", "execvpe", "fexecve", "execveat",
                 "posix_spawn", "posix_spawnp", "system", "popen"]


@pytest.mark.parametrize("variant", EXEC_VARIANTS)
def test_fd_leaked_across_exec_has_the_parents_stack(build_c, preload_run, variant):
    program = build_c("exec_leak.c")
    env = {"FDTRACK_FOLLOW_CHILDREN": "1", "SELF": str(program.path)}
    result = preload_run([program.path, variant], env=env)
    assert result.returncode == EXIT_EXPECTED, result.describe()
    fd, child_pid, handovers = (int(word) for word in result.stdout.split())
    assert handovers == 0, "the child still holds the hand-over"
    child = result.reports.get(child_pid)
    assert child is not None, f"reports: {sorted(result.reports)}"
    entry = child.fd(fd)
    assert entry["origin"] == "tracked" and entry["call"] == "open", repr(child)
    assert leak_lines(child, program, "across-exec") == [entry]
    assert not result.report.leaks(), repr(result.report)  # the parent closed its copy


def test_exec_child_is_not_tracked_without_follow(build_c, preload_run):
    """Nor handed anything: the fork child that execs it wrote a hand-over
    memfd, which the untracked image kept open all its life."""
    program = build_c("exec_leak.c")
    result = preload_run([program.path, "execv"])
    assert result.returncode == EXIT_EXPECTED, result.describe()
    _, child_pid, handovers = (int(word) for word in result.stdout.split())
    assert child_pid not in result.reports
    assert handovers == 0, "the untracked child holds a hand-over memfd"


def test_a_signal_handlers_fds_stay_the_programs_while_fdtrack_records(build_c, preload_run):
    """A handler that opens an fd while the interrupted thread is inside
    fdtrack's recording got an fd moved to fdtrack's own range (19940 at a
    limit of 20000) and hidden from the program."""
    program = build_c("signal_opens.c")
    result = preload_run([program.path], timeout=60)
    assert result.returncode == EXIT_EXPECTED, result.describe()
    highest = int(result.stdout)
    assert 3 <= highest < 64, f"the handler got fd {highest}"


def test_fds_above_a_lowered_limit_are_still_listed(build_c, tmp_path):
    """A dump finds the open fds with one poll() below the soft limit; an fd
    opened before the limit was lowered sits above it, seen or not."""
    program = build_c("above_the_limit.c")
    result = run_fdtrack([program.path], tmp_root=tmp_path)
    assert result.returncode == EXIT_EXPECTED, result.describe()
    by_fd = {entry["fd"]: entry["origin"] for entry in result.report["fds"]}
    assert by_fd.get(900) == "tracked" and by_fd.get(800) == "unknown", by_fd
