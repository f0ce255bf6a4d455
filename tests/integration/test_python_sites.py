"""A site is what the user sees as one place in their code: one Python line
stays one site however the interpreter reaches open() underneath."""
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "python_sites" / "warm_loop.py"
PYTHONS = [p for p in ("/usr/bin/python3", "/root/.pyenv/versions/3.11.7/bin/python3.11") if Path(p).exists()]


def marked_line(path, marker):
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if f"# LEAK: {marker}" in line:
            return number
    raise AssertionError(f"no LEAK: {marker} in {path}")


@pytest.mark.parametrize("python", PYTHONS)
def test_one_python_line_is_one_site(fdtrack_run, python):
    result = fdtrack_run([python, SCRIPT], timeout=60)
    assert result.returncode == 0, result.describe()
    line = marked_line(SCRIPT, "warm")
    sites = [
        site
        for site in result.report["sites"]
        if any(f["file"] == str(SCRIPT) and f["line"] == line for f in site["python"])
    ]
    assert len(sites) == 1, [(s["id"], s["count"]) for s in sites]
    assert sites[0]["count"] == 300
    assert sum(1 for fd in result.report.tracked() if fd["site"] == sites[0]["id"]) == 300
