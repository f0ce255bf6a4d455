"""Tests run by pytest in a venv where the fdtrack wheel is installed, without --fdtrack
(test_packaging.py): one leaks an fd, one carries fdtrack's marker (run with --strict-markers)."""

import os

import pytest

_kept = []


def test_leaks_but_nobody_checks():
    _kept.append(os.open(os.devnull, os.O_RDONLY))


@pytest.mark.fdtrack_allow_leak
def test_marked():
    pass
