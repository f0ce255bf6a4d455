"""A small pytest suite, run under `fdtrack run` by test_gating.py (its name
keeps the project's own pytest run from collecting it): one test leaks a
socket, the others are clean."""

import socket

_kept = []


def test_closes_its_socket():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM):
        pass


def test_leaks_socket():
    _kept.append(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))  # LEAK: pytest-socket


def test_opens_nothing():
    assert True
