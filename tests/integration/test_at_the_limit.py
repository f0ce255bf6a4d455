"""Reports of a program at its fd limit (issue #10, item 6): soft = hard =
20000, every fd taken by eventfds and pipes leaked from two functions, and
the program still trying after "Too many open files", as a server retrying
accept() does. The threshold, emfile and exit reports must all be written,
and name the same lines as a report far from the limit would."""

import resource

from conftest import check_well_formed

EXIT_EXPECTED = 7
LIMIT = 20000


def limit():
    """20000, or the hard limit when it is lower."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return LIMIT if hard == resource.RLIM_INFINITY else min(LIMIT, hard)


def expected_sites(program):
    """call -> (function, file, line) of the innermost frame of each leaking site."""
    return {
        "eventfd": ("leak_a", str(program.source), program.line("LEAK", "eventfd")),
        "pipe": ("leak_b", str(program.source), program.line("LEAK", "pipe")),
    }


def check_names_the_lines(report, program, nofile):
    """Well formed; the program's limit; its two sites on top, each named by
    function, file and line, and every frame of them symbolised."""
    check_well_formed(report.data, str(report.path))
    assert report["rlimit_nofile"] == nofile, report["rlimit_nofile"]
    top = sorted(report["sites"], key=lambda site: -site["count"])[:2]
    assert {site["call"] for site in top} == {"eventfd", "pipe"}, [site["call"] for site in top]
    for site in top:
        function, source, line = expected_sites(program)[site["call"]]
        frame = site["frames"][0]
        assert (frame.get("function"), frame.get("file"), frame.get("line")) == (function, source, line), site
        # main, the caller, has its line too.
        (caller,) = [frame for frame in site["frames"] if frame.get("function") == "main"]
        assert caller.get("file") == source and caller.get("line"), site["frames"]
    return {site["call"]: [(f.get("function"), f.get("file"), f.get("line")) for f in site["frames"]] for site in top}


def test_threshold_emfile_and_exit_reports_at_the_limit_name_the_lines(build_c, preload_run):
    """The program waits at the threshold (within 16 fds of the limit) until
    its threshold report is written, then runs out of fds, keeps failing and
    exits: the emfile report asked for just before the exit must not be lost
    with the process, and every report names the two leaking lines."""
    program = build_c("at_the_limit.c")
    nofile = limit()
    threshold = nofile - 16
    result = preload_run([program.path, nofile, threshold, "."], env={"FDTRACK_THRESHOLD": str(threshold)})
    assert result.returncode == EXIT_EXPECTED, result.describe()
    assert "could not" not in result.stderr and "abandoned" not in result.stderr, result.stderr
    assert [dump["trigger"] for dump in result.dumps] == ["threshold", "emfile"], result.stderr
    threshold_report, emfile_report = result.dumps
    assert result.report is not None, result.stderr
    assert threshold <= threshold_report["open_count"] < emfile_report["open_count"], result.stderr
    # Taken at the first failure: a pipe that needed two fds when one was
    # left, which an eventfd takes next (a copy of the process takes it at
    # once, the dump thread a moment later).
    assert result.report["open_count"] - 1 <= emfile_report["open_count"] <= result.report["open_count"]
    named = [check_names_the_lines(report, program, nofile) for report in (*result.dumps, result.report)]
    assert named[0] == named[1] == named[2], named
    for dump in result.dumps:
        text = dump.path.with_suffix(".txt").read_text()
        source = program.source.name
        assert f"from {source}:{program.line('LEAK', 'pipe')} in leak_b" in text, text[:2000]
        assert f"from {source}:{program.line('LEAK', 'eventfd')} in leak_a" in text, text[:2000]


def test_a_program_that_runs_into_the_limit_unhindered(build_c, preload_run):
    """No pause anywhere: the threshold dump (90% of the limit) runs while the
    program takes the last fds, and may be folded into the emfile one. The
    emfile and exit reports are written, name the lines, and the program
    leaks as many fds as it would untracked, but for fdtrack's own."""
    program = build_c("at_the_limit.c")
    nofile = limit()
    result = preload_run([program.path, nofile])
    assert result.returncode == EXIT_EXPECTED, result.describe()
    assert "could not" not in result.stderr and "abandoned" not in result.stderr, result.stderr
    triggers = [dump["trigger"] for dump in result.dumps]
    assert triggers in (["threshold", "emfile"], ["emfile"]), result.stderr
    for report in (*result.dumps, result.report):
        assert report is not None, result.stderr
        check_names_the_lines(report, program, nofile)
    if triggers[0] == "threshold":
        assert result.dumps[0]["open_count"] >= nofile * 9 // 10, result.dumps[0]["open_count"]
    # fdtrack holds 4 fds of its own (eventfd, control socket, libunwind's pipe),
    # and none of the program's: it filled every other number.
    assert result.report["open_count"] >= nofile - 4, result.report["open_count"]
