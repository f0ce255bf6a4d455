"""Every hooked libc function, through `fdtrack run`: the fd it leaks is
reported as tracked with the right call, kind and source line, the fd it
closes again is not, and the program's exit status comes back unchanged."""

import subprocess

import pytest

from conftest import EXIT_EXPECTED, LIBRARY, run_fdtrack

# name -> (source, extra cflags, libs). Each program exits with status 7.
PROGRAMS = {
    "open": ("open.c", (), ()),
    "fortify": ("fortify.c", ("-O2", "-D_FORTIFY_SOURCE=2"), ()),
    "stdio": ("stdio.c", (), ()),
    "mkstemp": ("mkstemp.c", (), ()),
    "dir": ("dir.c", (), ()),
    "socket": ("socket.c", (), ()),
    "pipe": ("pipe.c", (), ()),
    "kernel_objects": ("kernel_objects.c", (), ()),
    "terminals": ("terminals.c", (), ("-lutil",)),
    "dup": ("dup.c", (), ()),
    "scm_rights": ("scm_rights.c", (), ()),
    "close": ("close.c", (), ()),
    "privileged": ("privileged.c", (), ()),
}
EXIT_UNPRIVILEGED = 77

# (hooked function, program, LEAK marker, expected call, expected kind, fds per call)
LEAKS = [
    ("open", "open", "open", "open", "file", 1),
    ("open64", "open", "open64", "open64", "file", 1),
    ("openat", "open", "openat", "openat", "file", 1),
    ("openat64", "open", "openat64", "openat64", "file", 1),
    ("creat", "open", "creat", "creat", "file", 1),
    ("creat64", "open", "creat64", "creat64", "file", 1),
    ("__open_2", "open", "__open_2", "__open_2", "file", 1),
    ("__open64_2", "open", "__open64_2", "__open64_2", "file", 1),
    ("__openat_2", "open", "__openat_2", "__openat_2", "file", 1),
    ("__openat64_2", "open", "__openat64_2", "__openat64_2", "file", 1),
    ("__open_2", "fortify", "fortified-open", "__open_2", "file", 1),
    ("__openat_2", "fortify", "fortified-openat", "__openat_2", "file", 1),
    ("fopen", "stdio", "fopen", "fopen", "file", 1),
    ("fopen64", "stdio", "fopen64", "fopen64", "file", 1),
    ("freopen", "stdio", "freopen", "freopen", "file", 1),
    ("freopen64", "stdio", "freopen64", "freopen64", "file", 1),
    ("fdopen", "stdio", "fdopen", "fdopen", "file", 1),
    ("tmpfile", "stdio", "tmpfile", "tmpfile", "file", 1),
    ("tmpfile64", "stdio", "tmpfile64", "tmpfile64", "file", 1),
    ("popen", "stdio", "popen", "popen", "pipe", 1),
    ("mkstemp", "mkstemp", "mkstemp", "mkstemp", "file", 1),
    ("mkstemp64", "mkstemp", "mkstemp64", "mkstemp64", "file", 1),
    ("mkostemp", "mkstemp", "mkostemp", "mkostemp", "file", 1),
    ("mkostemp64", "mkstemp", "mkostemp64", "mkostemp64", "file", 1),
    ("mkstemps", "mkstemp", "mkstemps", "mkstemps", "file", 1),
    ("mkstemps64", "mkstemp", "mkstemps64", "mkstemps64", "file", 1),
    ("mkostemps", "mkstemp", "mkostemps", "mkostemps", "file", 1),
    ("mkostemps64", "mkstemp", "mkostemps64", "mkostemps64", "file", 1),
    ("opendir", "dir", "opendir", "opendir", "dir", 1),
    ("fdopendir", "dir", "fdopendir", "fdopendir", "dir", 1),
    ("socket", "socket", "socket", "socket", "socket", 1),
    ("socketpair", "socket", "socketpair", "socketpair", "socket", 2),
    ("accept", "socket", "accept", "accept", "socket", 1),
    ("accept4", "socket", "accept4", "accept4", "socket", 1),
    ("pipe", "pipe", "pipe", "pipe", "pipe", 2),
    ("pipe2", "pipe", "pipe2", "pipe2", "pipe", 2),
    ("epoll_create", "pipe", "epoll_create", "epoll_create", "epoll", 1),
    ("epoll_create1", "pipe", "epoll_create1", "epoll_create1", "epoll", 1),
    ("eventfd", "kernel_objects", "eventfd", "eventfd", "eventfd", 1),
    ("timerfd_create", "kernel_objects", "timerfd_create", "timerfd_create", "timerfd", 1),
    ("signalfd", "kernel_objects", "signalfd", "signalfd", "signalfd", 1),
    ("inotify_init", "kernel_objects", "inotify_init", "inotify_init", "inotify", 1),
    ("inotify_init1", "kernel_objects", "inotify_init1", "inotify_init1", "inotify", 1),
    ("memfd_create", "kernel_objects", "memfd_create", "memfd_create", "memfd", 1),
    ("pidfd_open", "kernel_objects", "pidfd_open", "pidfd_open", "pidfd", 1),
    ("pidfd_getfd", "kernel_objects", "pidfd_getfd", "pidfd_getfd", "file", 1),
    ("syscall", "kernel_objects", "syscall-pidfd_open", "pidfd_open", "pidfd", 1),
    ("syscall", "kernel_objects", "syscall-memfd_create", "memfd_create", "memfd", 1),
    ("posix_openpt", "terminals", "posix_openpt", "posix_openpt", "chr", 1),
    ("getpt", "terminals", "getpt", "getpt", "chr", 1),
    ("openpty", "terminals", "openpty", "openpty", "chr", 2),
    ("shm_open", "terminals", "shm_open", "shm_open", "file", 1),
    ("dup", "dup", "dup", "dup", "file", 1),
    ("dup2", "dup", "dup2", "dup2", "file", 1),
    ("dup3", "dup", "dup3", "dup3", "file", 1),
    ("dup2", "dup", "dup2-onto-live", "dup2", "file", 1),
    ("dup3", "dup", "dup3-onto-live", "dup3", "file", 1),
    ("dup2", "dup", "dup2-self", "open", "file", 1),
    ("fcntl", "dup", "fcntl-F_DUPFD", "fcntl", "file", 1),
    ("fcntl", "dup", "fcntl-F_DUPFD_CLOEXEC", "fcntl", "file", 1),
    ("fcntl64", "dup", "fcntl64-F_DUPFD", "fcntl64", "file", 1),
    ("fcntl64", "dup", "fcntl64-F_DUPFD_CLOEXEC", "fcntl64", "file", 1),
    ("recvmsg", "scm_rights", "recvmsg", "recvmsg", "file", 1),
    ("recvmmsg", "scm_rights", "recvmmsg", "recvmmsg", "file", 1),
    ("close_range", "close", "close_range-cloexec", "open", "file", 1),
    ("closefrom", "close", "after-closefrom", "open", "file", 1),
    ("fanotify_init", "privileged", "fanotify_init", "fanotify_init", "other", 1),
    ("open_by_handle_at", "privileged", "open_by_handle_at", "open_by_handle_at", "file", 1),
]

# Exported functions that close rather than create, tested by the CLOSED
# markers (close: everywhere; the others in the programs named).
CLOSERS = {"close", "close_range", "closefrom", "fclose", "pclose", "closedir"}
# Covered by test_host_safety.py.
# Hooks tested elsewhere: vfork and the exec and spawn functions (fds leaked
# across exec) in test_host_safety.py; the dump-signal hooks (the program's own
# handler wins) in test_live.py.
ELSEWHERE = {"vfork", "sigaction", "signal", "execl", "execle", "execlp", "execv", "execve", "execvp", "execvpe",
             "fexecve", "execveat", "posix_spawn", "posix_spawnp", "system",
             "pthread_setname_np",  # test_thread_names.py
             "pthread_create", "sigprocmask", "pthread_sigmask", "sigwait", "sigwaitinfo",
             "sigtimedwait",  # test_single_thread.py
             "chroot", "setuid", "seteuid", "setreuid", "setresuid", "setfsuid"}  # test_report_places.py


@pytest.fixture(scope="session")
def tracked_run(build_c, session_tmp, fdtrack_build):
    """tracked_run(name) -> (CProgram, Result), each program built and run once."""
    runs = {}

    def get(name):
        if name not in runs:
            source, cflags, libs = PROGRAMS[name]
            program = build_c(source, cflags=cflags, libs=libs)
            result = run_fdtrack([program.path], tmp_root=session_tmp)
            if result.returncode == EXIT_UNPRIVILEGED:
                pytest.skip(f"{name}: the kernel refuses these calls here without privileges")
            assert result.report is not None, result.describe()
            runs[name] = program, result
        return runs[name]

    return get


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_exit_status_is_kept(tracked_run, name):
    program, result = tracked_run(name)
    assert result.returncode == EXIT_EXPECTED, result.describe()
    assert result.report["trigger"] == "exit"
    assert result.report.pid != 0


@pytest.mark.parametrize(
    "function, program_name, marker, call, kind, count",
    LEAKS,
    ids=[f"{row[0]}:{row[2]}" for row in LEAKS],
)
def test_leak_is_reported_at_its_line(tracked_run, function, program_name, marker, call, kind, count):
    program, result = tracked_run(program_name)
    report = result.report
    line = program.line("LEAK", marker)

    found = report.fds_from(program.source, line, module=program.path)
    assert len(found) == count, f"{program.source.name}:{line} ({function})\n{report!r}"
    for entry in found:
        assert entry["origin"] == "tracked"
        assert entry["call"] == call, entry
        assert entry["kind"] == kind, entry
        assert report.site_of(entry)["call"] == call
        frame = report.first_frame_in(entry, program.path)
        assert frame["file"] == str(program.source) and frame["line"] == line, frame
        assert frame["function"] == "main", frame


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_closed_fds_are_not_reported(tracked_run, name):
    program, result = tracked_run(name)
    closed = program.markers("CLOSED")
    assert closed, f"{program.source.name} closes nothing"
    for marker, lines in closed.items():
        for line in lines:
            reported = result.report.fds_from(program.source, line)
            assert not reported, f"/* CLOSED: {marker} */ at line {line} is reported:\n{result.report!r}"


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_nothing_else_is_tracked(tracked_run, name):
    """Every tracked fd comes from a LEAK line: no stray records."""
    program, result = tracked_run(name)
    expected = sum(row[5] for row in LEAKS if row[1] == name)
    assert len(result.report.leaks()) == expected, repr(result.report)


def test_every_exported_hook_has_a_test():
    exported = subprocess.run(
        ["nm", "-D", "--defined-only", str(LIBRARY)], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    functions = {
        fields[2]
        for fields in (line.split() for line in exported)
        if len(fields) == 3 and fields[1] in "TW" and not fields[2].startswith("fdtrack_")
    }
    tested = {row[0] for row in LEAKS} | CLOSERS | ELSEWHERE
    assert functions - tested == set(), "hooked functions without a test"


def test_close_range_cloexec_marks_but_keeps_the_fd(tracked_run):
    program, result = tracked_run("close")
    (entry,) = result.report.fds_from(program.source, program.line("LEAK", "close_range-cloexec"), program.path)
    assert entry["cloexec"] is True, entry
