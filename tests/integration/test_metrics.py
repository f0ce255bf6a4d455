"""Fleet view through Prometheus (issue #11): `fdtrack metrics PID...` prints
the text exposition, checked by Debian's `promtool check metrics`, with the
numbers a full dump gives."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from test_live import cli, dump_json, live  # noqa: F401 (live is a fixture)

PROMTOOL = "/usr/bin/promtool"
FAMILIES = ["fdtrack_open_fds", "fdtrack_max_fds", "fdtrack_sites", "fdtrack_site_open_fds",
            "fdtrack_site_oldest_fd_age_seconds"]


# ---- reading the exposition -------------------------------------------------------------

SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)')


def unescape(value):
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), value)


def parse_exposition(text):
    """[(name, {label: value}, number)] of every sample line; HELP and TYPE lines are counted by the tests."""
    samples = []
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        name, labels, value = match.groups()
        parsed = {key: unescape(val) for key, val in LABEL.findall(labels or "")}
        samples.append((name, parsed, float(value)))
    return samples


def of_pid(samples, name, pid):
    return [(labels, value) for n, labels, value in samples if n == name and labels.get("pid") == str(pid)]


def promtool_check(text):
    """`promtool check metrics` on the text: the format and Prometheus's naming lints."""
    if not Path(PROMTOOL).exists():
        pytest.skip(f"{PROMTOOL} is missing: Debian's prometheus package installs it (scripts/setup.sh)")
    result = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"promtool check metrics: exit {result.returncode}\n{result.stderr}\n{text}"


def metrics(*args):
    result = cli("metrics", *args)
    return result, parse_exposition(result.stdout)


def sites_of(full):
    return {str(site["id"]): site for site in full["sites"] if site["count"]}


# ---- fdtrack metrics --------------------------------------------------------------------


def test_metrics_pass_promtool_and_match_a_full_dump(build_c, live):
    program = build_c("live_ctl.c")
    proc = live([program.path])
    proc.ask("open 30")
    proc.ask("other 5")
    proc.ask("pipe 3")
    result, samples = metrics(proc.pid)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    promtool_check(result.stdout)
    for family in FAMILIES:
        assert result.stdout.count(f"# TYPE {family} gauge\n") == 1, result.stdout

    full = dump_json(proc.pid)
    known = [entry for entry in full["fds"] if entry["origin"] in ("tracked", "inherited")]
    process = {"pid": str(proc.pid), "program": full["program"]}
    assert of_pid(samples, "fdtrack_open_fds", proc.pid) == [(process, len(known))]
    assert of_pid(samples, "fdtrack_max_fds", proc.pid) == [(process, full["rlimit_nofile"])]
    assert of_pid(samples, "fdtrack_sites", proc.pid) == [(process, 3)]

    by_site = {labels["site"]: (labels, value) for labels, value in of_pid(samples, "fdtrack_site_open_fds", proc.pid)}
    sites = sites_of(full)
    assert set(by_site) == set(sites) | {"other"}, by_site
    for id, site in sites.items():
        labels, value = by_site[id]
        assert value == site["count"] and labels["call"] == site["call"], (labels, site)
    assert by_site["other"][1] == 0
    grow = program.line("LEAK", "grow")
    (grown,) = [labels for labels, value in by_site.values() if value == 30]
    assert grown["location"] == f"live_ctl.c:{grow} in leak_grow", grown
    ages = {labels["site"]: value for labels, value in of_pid(samples, "fdtrack_site_oldest_fd_age_seconds", proc.pid)}
    assert all(0 < ages[id] < 600 for id in sites), ages


def test_top_sites_bound_the_series_and_other_sums_the_rest(build_c, live):
    proc = live([build_c("live_ctl.c").path])
    proc.ask("open 30")
    proc.ask("other 5")
    proc.ask("pipe 3")
    result, samples = metrics(proc.pid, "--top", "1")
    assert result.returncode == 0, result.stderr
    promtool_check(result.stdout)
    series = of_pid(samples, "fdtrack_site_open_fds", proc.pid)
    assert [(labels["site"] == "other", value) for labels, value in series] == [(False, 30), (True, 5 + 6)], series
    assert len(of_pid(samples, "fdtrack_site_oldest_fd_age_seconds", proc.pid)) == 2

    result, samples = metrics(proc.pid, "--top", "0")
    assert [value for _, value in of_pid(samples, "fdtrack_site_open_fds", proc.pid)] == [41]
    for bad in ("-1", "1001", "x"):
        result = cli("metrics", proc.pid, "--top", bad)
        assert result.returncode == 2 and "--top" in result.stderr and result.stdout == "", (bad, result.stderr)


def test_several_processes_one_family_each_and_a_missing_one_is_said(build_c, live):
    """The processes that answer are printed, each family once; one that cannot
    be asked is one line on stderr, and the exit status is 1."""
    program = build_c("live_ctl.c")
    first, second = live([program.path]), live([program.path])
    first.ask("open 2")
    second.ask("open 7")
    untracked = live(["sleep", "60"], preload=False)
    result, samples = metrics(second.pid, untracked.pid, first.pid, first.pid)
    assert result.returncode == 1, result.stderr
    assert result.stderr == (f"fdtrack metrics: process {untracked.pid} is not tracked: libfdtrack.so is not loaded "
                             "in it (start it with LD_PRELOAD=libfdtrack.so or `fdtrack run`)\n")
    promtool_check(result.stdout)
    for family in FAMILIES:
        assert result.stdout.count(f"# HELP {family} ") == 1, result.stdout
    assert [labels["pid"] for name, labels, _ in samples if name == "fdtrack_open_fds"] == sorted(
        [str(first.pid), str(second.pid)], key=int)
    counts = {pid: max(value for _, value in of_pid(samples, "fdtrack_site_open_fds", pid))
              for pid in (first.pid, second.pid)}
    assert counts == {first.pid: 2, second.pid: 7}

    result = cli("metrics", untracked.pid)
    assert result.returncode == 1 and result.stdout == "", result.stdout


def test_hostile_program_names_cannot_forge_lines(build_c, live, tmp_path):
    """A program whose file name holds a quote, a backslash and a newline: its
    label is the name as the text report prints it (ls -b), escaped for the format."""
    hostile = tmp_path / 'live "x\\y\nfake_metric 1'
    shutil.copy(build_c("live_ctl.c").path, hostile)
    proc = live([hostile])
    proc.ask("open 3")
    result, samples = metrics(proc.pid)
    assert result.returncode == 0, result.stderr
    promtool_check(result.stdout)
    assert "\nfake_metric" not in result.stdout
    assert {name for name, _, _ in samples} == set(FAMILIES), result.stdout
    ((labels, value),) = of_pid(samples, "fdtrack_open_fds", proc.pid)
    assert labels["program"] == str(hostile).replace("\\", "\\\\").replace("\n", "\\n"), labels
