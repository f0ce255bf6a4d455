"""Sample tests for the fdtrack pytest plugin (run by test_api.py, not collected by itself):
some leak fds, some close them, keep them on purpose or leave them to a fixture."""

import os
import socket

import pytest

import fdtrack

_kept = []  # a cache that outlives the test: what it holds stays open


@pytest.fixture(scope="module")
def module_file():
    with open(os.devnull) as f:
        yield f


def test_leaks_socket():
    _kept.append(socket.socket(socket.AF_INET, socket.SOCK_STREAM))  # LEAK: pytest_socket


def test_leaks_os_open():
    os.open(os.devnull, os.O_RDONLY)  # LEAK: pytest_os_open


def test_clean():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setblocking(False)


def test_cycle_is_collected():
    class Holder:
        pass

    holder = Holder()
    holder.me = holder
    holder.sock = socket.socket()


def test_fixture_fd_is_not_the_test_s(module_file):
    assert not module_file.closed


@pytest.mark.fdtrack_allow_leak
def test_marked_leak():
    _kept.append(socket.socket())


def test_ignored_fd():
    s = socket.socket()
    _kept.append(s)
    assert fdtrack.ignore_fd(s) == fdtrack.active()
