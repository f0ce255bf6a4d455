"""Bad closes: a double close and the close() of an fd a FILE owns are listed
with the closing and the opening line, and fail a gated run."""


def site_line(report, site_id, program):
    site = next(s for s in report["sites"] if s["id"] == site_id)
    frame = next(f for f in site["frames"] if f.get("file") == str(program.source))
    return frame["line"]


def test_bad_closes_are_reported_and_gate(build_c, fdtrack_run):
    program = build_c("bad_close.c")
    result = fdtrack_run([program.path], options=("--error-exitcode", "3"), timeout=30)
    assert result.returncode == 3, result.describe()  # no leak, but bad closes
    report = result.report
    assert not report.leaks(), repr(report)
    bad = {entry["error"]: entry for entry in report["bad_closes"]}
    assert sorted(bad) == ["double_close", "owned_by_stream"], report["bad_closes"]  # none from the fork child
    for error, opened in (("double_close", "twice"), ("owned_by_stream", "stream")):
        assert site_line(report, bad[error]["site"], program) == program.line("BAD", error)
        assert site_line(report, bad[error]["opened_site"], program) == program.line("OPENED", opened)
    # valgrind's "previously closed at": the line of the first close.
    first = bad["double_close"]["previous_close_site"]
    assert site_line(report, first, program) == program.line("CLOSED", "first"), report["bad_closes"]
    assert bad["owned_by_stream"]["previous_close_site"] is None
    assert f"; closed before at bad_close.c:{program.line('CLOSED', 'first')}" in result.stderr, result.stderr
    assert "closed twice at bad_close.c:" in result.stderr, result.stderr


def test_clean_closes_are_not_bad(build_c, fdtrack_run):
    program = build_c("stdio.c")
    result = fdtrack_run([program.path], timeout=30)
    assert result.report["bad_closes"] == [], result.report["bad_closes"]


def test_a_double_close_of_an_inherited_fd(fdtrack_build, tmp_path):
    """valgrind reports a second close of an fd the program inherited; fdtrack
    forgot the number at the first close and said nothing."""
    import os
    import subprocess

    from conftest import CLI, load_report

    inherited = 99  # handed to the program by number, as a shell would
    code = (f"import os\n"
            f"os.close({inherited})\n"
            f"try:\n    os.close({inherited})\nexcept OSError:\n    print('EBADF')\n")
    read_end, write_end = os.pipe()
    os.dup2(read_end, inherited)
    try:
        report_path = tmp_path / "exit.json"
        result = subprocess.run([CLI, "run", "--json", report_path, "--", "/usr/bin/python3", "-I", "-c", code],
                                pass_fds=(inherited,), capture_output=True, text=True, timeout=30)
    finally:
        for fd in {read_end, write_end, inherited}:
            os.close(fd)
    assert result.stdout == "EBADF\n", result.stderr
    bad = load_report(report_path)["bad_closes"]
    assert [(entry["fd"], entry["error"], entry["opened_site"]) for entry in bad] == [
        (inherited, "double_close", None)], bad


def test_closes_of_numbers_never_opened(build_c, fdtrack_run):
    """valgrind reports close(-1) and close() of a number never opened;
    fdtrack said nothing. A close-everything loop is one line, named once."""
    program = build_c("never_opened.c")
    result = fdtrack_run([program.path], options=("--error-exitcode", "3"), timeout=30)
    assert result.returncode == 3, result.describe()
    report = result.report
    found = sorted((site_line(report, bad["site"], program), bad["fd"], bad["error"]) for bad in report["bad_closes"])
    assert found == [(program.line("BAD", "minus-one"), -1, "never_opened"),
                     (program.line("BAD", "loop"), 500, "never_opened")], report["bad_closes"]
    assert all(bad["opened_site"] is None for bad in report["bad_closes"])


def test_close_range_over_numbers_already_closed(build_c, fdtrack_run):
    """valgrind's close_range test (none/tests/linux/close_range): a range to
    ~0U closes everything from there and is no mistake, nor is one up to the
    fd limit; a second close_range(5, 7) closes two numbers already closed."""
    program = build_c("close_range_twice.c")
    result = fdtrack_run([program.path], options=("--error-exitcode", "3"), timeout=30)
    assert result.returncode == 3, result.describe()
    report = result.report
    found = sorted((bad["fd"], bad["error"], site_line(report, bad["site"], program),
                    site_line(report, bad["opened_site"], program),
                    site_line(report, bad["previous_close_site"], program)) for bad in report["bad_closes"])
    twice, first = program.line("BAD", "twice"), program.line("CLOSED", "range")
    assert found == [(5, "double_close", twice, program.line("OPENED", "five"), first),
                     (7, "double_close", twice, program.line("OPENED", "seven"), first)], found
