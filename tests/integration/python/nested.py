"""Opens fds from known lines: nested functions, a method, a thread, a module
in a package, os.open and a socket; prints each expected (line, function)."""
import os
import socket  # LINE <module>
import sys
import threading  # LINE <module>

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pkg import opener  # noqa: E402  # LINE <module>

kept = []


def inner(path):
    kept.append(open(path))  # LINE inner


def middle(path):
    inner(path)  # LINE middle


class Holder:
    def method(self):
        kept.append(os.open("/dev/null", os.O_RDONLY))  # LINE Holder.method


def in_thread():
    kept.append(socket.socket(socket.AF_INET, socket.SOCK_STREAM))  # LINE in_thread


def main():
    middle("/etc/hostname")  # LINE main
    Holder().method()  # LINE main
    t = threading.Thread(target=in_thread)
    t.start()
    t.join()
    kept.append(opener.open_from_package("/etc/passwd"))  # LINE main
    gen = (open(p) for p in ["/etc/hosts"])  # LINE <genexpr>
    kept.extend(gen)  # LINE main


if __name__ == "__main__":
    main()  # LINE <module>
