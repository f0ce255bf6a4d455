"""Each record carries the name its thread had when it created the fd, also
after a thread renames itself (CPython 3.14 names OS threads after
threading.Thread.name, again whenever a thread sets its own name)."""
import json

SCRIPT = r"""
import ctypes, json, threading
libc = ctypes.CDLL(None)
libc.pthread_self.restype = ctypes.c_void_p
keep, fds = [], {}

def rename(name):
    libc.pthread_setname_np(ctypes.c_void_p(libc.pthread_self()), name.encode())

def work():
    rename("before")
    keep.append(open("/etc/hostname")); fds["before"] = keep[-1].fileno()
    rename("after")
    keep.append(open("/etc/hostname")); fds["after"] = keep[-1].fileno()

t = threading.Thread(target=work); t.start(); t.join()
print(json.dumps(fds))
"""


def test_a_thread_renamed_after_its_first_record(fdtrack_run):
    result = fdtrack_run(["/usr/bin/python3", "-I", "-c", SCRIPT], timeout=30)
    assert result.returncode == 0 and result.report is not None, result.describe()
    fds = json.loads(result.stdout)
    assert {name: result.report.fd(fd)["thread"] for name, fd in fds.items()} == {"before": "before",
                                                                                  "after": "after"}
