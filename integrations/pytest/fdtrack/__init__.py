"""Python binding of fdtrack's C API (fdtrack/fdtrack.h), through ctypes on the preloaded
libfdtrack.so: which fds were opened since a checkpoint and are still open, where each was
opened, and dumps on request.

Every function is a harmless no-op when the program does not run under the preload, as in C:
`active()` is False, `checkpoint()` 0, `open_since()` empty, `format_fd()` None, `dump()` False.
"""

import dataclasses
import functools

__all__ = ["FdInfo", "active", "checkpoint", "open_since", "format_fd", "ignore_fd", "dump"]


@dataclasses.dataclass(frozen=True)
class FdInfo:
    """One fd as fdtrack recorded its creation."""

    fd: int
    call: str  # the libc function that created it: "socket", "openat", "pipe2"...
    site: int  # its allocation site: the "site" id of the JSON reports
    tid: int
    thread: str
    created_ns: int  # CLOCK_MONOTONIC


@functools.lru_cache(maxsize=None)
def _fd_info_type():
    import ctypes

    class _FdInfo(ctypes.Structure):
        # Mirrors fdtrack_fd_info; ctypes lays it out with the C compiler's alignment.
        _fields_ = [
            ("fd", ctypes.c_int),
            ("tid", ctypes.c_int),
            ("site", ctypes.c_uint32),
            ("created_ns", ctypes.c_uint64),
            ("call", ctypes.c_char * 24),
            ("thread", ctypes.c_char * 16),
        ]

    return _FdInfo


# Loaded at the first call, not at import: the pytest11 entry point (fdtrack.pytest_option) imports
# this package in every pytest run of an environment that has fdtrack installed, and importing
# ctypes alone costs such a run about 8 ms, which a run without --fdtrack must not pay.
@functools.lru_cache(maxsize=None)
def _library():
    """The library's functions, or None when it is not loaded in this process."""
    import ctypes

    _FdInfo = _fd_info_type()
    try:
        # dlopen(NULL) searches the global scope, where LD_PRELOAD put libfdtrack.so.
        lib = ctypes.CDLL(None)
        functions = {
            "active": (lib.fdtrack_active, ctypes.c_int, []),
            "checkpoint": (lib.fdtrack_checkpoint, ctypes.c_uint64, []),
            "open_since": (
                lib.fdtrack_open_since,
                ctypes.c_int,
                [ctypes.c_uint64, ctypes.POINTER(_FdInfo), ctypes.c_int],
            ),
            "format_fd": (lib.fdtrack_format_fd, ctypes.c_int, [ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t]),
            "ignore_fd": (lib.fdtrack_ignore_fd, ctypes.c_int, [ctypes.c_int]),
            "dump": (lib.fdtrack_dump, ctypes.c_int, [ctypes.c_char_p]),
        }
    except (OSError, AttributeError):
        return None
    for function, restype, argtypes in functions.values():
        function.restype = restype
        function.argtypes = argtypes
    return {name: entry[0] for name, entry in functions.items()}


def active():
    """True when libfdtrack.so is preloaded and tracking this process."""
    lib = _library()
    return bool(lib and lib["active"]())


def checkpoint():
    """A token for "now": fds created after this call are "since" it (0 when not tracking)."""
    lib = _library()
    return lib["checkpoint"]() if lib else 0


def open_since(token):
    """The fds created after checkpoint `token` that are still open, in fd order, without those
    passed to ignore_fd()."""
    lib = _library()
    if not lib:
        return []
    capacity = 64
    while True:
        buffer = (_fd_info_type() * capacity)()
        count = lib["open_since"](token, buffer, capacity)
        if count <= capacity:
            break
        capacity = count + 16  # more were opened meanwhile by another thread: ask again
    return [
        FdInfo(
            fd=entry.fd,
            call=entry.call.decode(errors="replace"),
            site=entry.site,
            tid=entry.tid,
            thread=entry.thread.decode(errors="replace"),
            created_ns=entry.created_ns,
        )
        for entry in buffer[:count]
    ]


def _fileno(fd):
    return fd if isinstance(fd, int) else fd.fileno()


def format_fd(fd):
    """Where `fd` (a number or an object with fileno()) was opened: a line such as
    "fd 5 (socket tcp ...) opened by socket at test_io.py:12 in test_send, 0.2s ago on thread
    MainThread" then its Python and native stacks. None when it is not a tracked open fd."""
    lib = _library()
    if not lib:
        return None
    import ctypes

    fd = _fileno(fd)
    buffer = ctypes.create_string_buffer(16384)
    length = lib["format_fd"](fd, buffer, len(buffer))
    if length >= len(buffer):  # symbolising is slow: ask twice only for a very deep stack
        buffer = ctypes.create_string_buffer(length + 1)
        length = lib["format_fd"](fd, buffer, len(buffer))
    return buffer.value.decode(errors="replace") if length >= 0 else None


def ignore_fd(fd):
    """Declares `fd` (a number or an object with fileno()) open on purpose: open_since() leaves it
    out until it is closed. True when fdtrack knows the fd."""
    lib = _library()
    return bool(lib) and lib["ignore_fd"](_fileno(fd)) == 0


def dump(reason=None):
    """Writes a dump now (trigger "api") where the other dumps go. True when it was written."""
    lib = _library()
    if not lib:
        return False
    return lib["dump"](reason.encode() if reason else None) == 0
