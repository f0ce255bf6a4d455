"""Each site's open count over time (issue #11): sampled every
FDTRACK_INTERVAL seconds, carried by every report, and growing sites marked
and listed first in the text report."""

import re
import subprocess

from conftest import EXIT_EXPECTED, LIBRARY, _environment, check_well_formed, load_report, run_fdtrack


def run_grows(build_c, tmp_path, steps, **env):
    program = build_c("grows.c")
    environment = _environment({"LD_PRELOAD": str(LIBRARY), **env}, tmp_path)
    result = subprocess.run([program.path, str(steps)], env=environment, cwd=tmp_path, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == EXIT_EXPECTED, result.stderr
    (json_path,) = tmp_path.glob("fdtrack.*.json")
    return program, result, load_report(json_path), json_path.with_suffix(".txt").read_text()


def site_at(report, program, marker):
    line = program.line("LEAK", marker)
    (entry, *_) = report.fds_from(program.source, line, program.path)
    return report.site_of(entry)


def test_a_growing_site_has_its_history_and_is_listed_first(build_c, tmp_path):
    program, result, report, text = run_grows(build_c, tmp_path, 4, FDTRACK_INTERVAL="1")
    check_well_formed(report.data)
    assert report["history"]["interval_s"] == 1
    growing, steady = site_at(report, program, "growing"), site_at(report, program, "steady")
    counts = [count for _, count in growing["history"]]
    times = [time for time, _ in growing["history"]]
    assert times == sorted(times) and counts == sorted(counts), growing["history"]
    assert counts[-1] == growing["count"] == 4 and len(set(counts)) >= 3, growing["history"]
    assert [count for _, count in steady["history"]][-1] == 1 and len(steady["history"]) <= 2, steady["history"]
    opened = [count for _, count in report["history"]["open_fds"]]
    assert opened == sorted(opened) and opened[-1] > opened[0], opened
    # The text report: the growing site first, with how fast it grew.
    groups = [block for block in text.split("\n\n") if re.match(r"\d+ fds? leaked from ", block)]
    assert f"grows.c:{program.line('LEAK', 'growing')}" in groups[0].splitlines()[0], text
    assert "grew +3 in " in groups[0] and "/min, oldest " in groups[0], text
    assert "grew" not in groups[1], text


def test_no_history_at_interval_zero(build_c, tmp_path):
    program, result, report, text = run_grows(build_c, tmp_path, 1, FDTRACK_INTERVAL="0")
    assert "history" not in report.data
    assert all("history" not in site for site in report["sites"]), report["sites"]
    assert "grew" not in text


def test_a_bad_interval_is_named_and_the_default_kept(build_c, tmp_path):
    program, result, report, text = run_grows(build_c, tmp_path, 1, FDTRACK_INTERVAL="soon")
    assert "FDTRACK_INTERVAL" in result.stderr, result.stderr
    assert report["history"]["interval_s"] == 10


def test_fdtrack_run_takes_the_interval(build_c, tmp_path):
    program = build_c("grows.c")
    result = run_fdtrack([program.path, "3"], options=["--interval", "1"])
    assert result.returncode == EXIT_EXPECTED, result.stderr
    assert result.report["history"]["interval_s"] == 1
    assert "grew +2 in " in result.stderr, result.stderr
    refused = run_fdtrack([program.path, "1"], options=["--interval", "-1"])
    assert refused.returncode == 2 and "--interval" in refused.stderr, refused.stderr
