"""docs/report.schema.json (issue #11): a real report and a real `fdtrack
diff --json` match it, and it rejects broken ones, so that the check every
other test makes on its reports (conftest.check_schema) can fail."""
import copy
import json
import subprocess

import pytest

from conftest import CLI, SCHEMA, checked_json, schema_errors


@pytest.fixture(scope="module")
def demo_report(build_c, session_tmp):
    """The exit report of the demo program (examples/leaky.c, what scripts/demo.sh runs)."""
    from conftest import run_fdtrack

    program = build_c("../../../examples/leaky.c")
    result = run_fdtrack([program.path], tmp_root=session_tmp)
    assert result.returncode == 0 and result.report is not None, result.describe()
    return result.report


def test_the_demo_programs_report_matches_the_schema(fdtrack_build, demo_report):
    data = demo_report.data
    assert schema_errors(data) == []
    # It shows most of what the schema describes: tracked and inherited fds of several kinds.
    assert {entry["origin"] for entry in data["fds"]} >= {"tracked", "inherited"}
    assert {entry["kind"] for entry in data["fds"]} >= {"file", "pipe", "socket"}
    assert data["sites"] and all(site["frames"] for site in data["sites"])


def broken(change):
    def apply(data):
        change(data)
        return data

    return apply


def first_tracked(data):
    return next(entry for entry in data["fds"] if entry["origin"] == "tracked")


def first_inherited(data):
    return next(entry for entry in data["fds"] if entry["origin"] == "inherited")


# Each change, and the path of the error the schema must name.
BROKEN_REPORTS = {
    "fd-as-string": (lambda d: first_tracked(d).update(fd=str(first_tracked(d)["fd"])), "$.fds[{tracked}].fd"),
    "unknown-origin": (lambda d: first_tracked(d).update(origin="leaked"), "$.fds[{tracked}].origin"),
    "unknown-kind": (lambda d: first_tracked(d).update(kind="socketpair"), "$.fds[{tracked}].kind"),
    "no-trigger": (lambda d: d.pop("trigger"), "$"),
    "no-site-key": (lambda d: first_tracked(d).pop("site"), "$.fds[{tracked}]"),
    "unknown-key": (lambda d: d.update(leaks=[]), "$"),
    "unknown-fd-key": (lambda d: first_tracked(d).update(flags=0), "$.fds[{tracked}]"),
    "negative-age": (lambda d: first_tracked(d).update(age_s=-0.5), "$.fds[{tracked}].age_s"),
    "tracked-without-site": (lambda d: first_tracked(d).update(site=None), "$.fds[{tracked}].site"),
    "inherited-with-site": (lambda d: first_inherited(d).update(site=1), "$.fds[{inherited}].site"),
    "at-exit-in-a-dump": (lambda d: (d.update(trigger="signal"), first_tracked(d).update(at_exit="never_closed")),
                          "$.fds[{tracked}].at_exit"),
    "unknown-at-exit": (lambda d: first_tracked(d).update(at_exit="closed"), "$.fds[{tracked}].at_exit"),
    "address-not-hex": (lambda d: d["sites"][0]["frames"][0].update(address="12345"), "$.sites[0].frames[0].address"),
    "line-zero": (lambda d: d["sites"][0]["frames"][0].update(line=0), "$.sites[0].frames[0].line"),
    "count-negative": (lambda d: d["sites"][0].update(count=-1), "$.sites[0].count"),
    "other-schema": (lambda d: d.update(schema="fdtrack/2"), "$.schema"),
    "time-not-utc": (lambda d: d.update(time="2026-11-26 22:31:05"), "$.time"),
    "double-close-of-minus-one": (
        lambda d: d["bad_closes"].append({"fd": -1, "error": "double_close", "site": None,
                                          "previous_close_site": None, "opened_site": None}),
        "$.bad_closes[0].fd"),
    "unknown-bad-close": (
        lambda d: d["bad_closes"].append({"fd": 5, "error": "closed_twice", "site": None,
                                          "previous_close_site": None, "opened_site": None}),
        "$.bad_closes[0].error"),
    "history-time-missing": (lambda d: d["sites"][0].update(history=[[5]]), "$.sites[0].history[0]"),
    "history-count-negative": (lambda d: d["history"].update(open_fds=[[1796190000, -1]]),
                               "$.history.open_fds[0][1]"),
    "history-without-interval": (lambda d: d["history"].pop("interval_s"), "$.history"),
    "counts-with-fds": (lambda d: d.update(schema="fdtrack-counts/1", trigger="counts"), "$.fds"),
    "counts-trigger-in-a-report": (lambda d: d.update(trigger="counts"), "$.trigger"),
}


@pytest.mark.parametrize("name", sorted(BROKEN_REPORTS))
def test_the_schema_rejects_a_broken_report(fdtrack_build, demo_report, name):
    change, where = BROKEN_REPORTS[name]
    data = copy.deepcopy(demo_report.data)
    assert data["bad_closes"] == []  # the paths above count on it
    where = where.format(tracked=data["fds"].index(first_tracked(data)),
                         inherited=data["fds"].index(first_inherited(data)))
    change(data)
    errors = schema_errors(data)
    assert any(error.startswith(f"{where}: ") for error in errors), errors


def test_a_never_opened_close_of_minus_one_is_valid(fdtrack_build, demo_report):
    """The one negative fd a report may hold: close(-1) on an error path."""
    data = copy.deepcopy(demo_report.data)
    data["bad_closes"].append({"fd": -1, "error": "never_opened", "site": data["sites"][0]["id"],
                               "previous_close_site": None, "opened_site": None})
    assert schema_errors(data) == []


def test_a_diff_matches_the_schema_and_a_broken_one_does_not(fdtrack_build, demo_report, tmp_path):
    newer = demo_report.data
    older = copy.deepcopy(newer)
    grown = older["sites"][0]
    gone = [entry for entry in older["fds"] if entry["site"] == grown["id"]][1:]
    older["fds"] = [entry for entry in older["fds"] if entry not in gone]
    grown["count"] -= len(gone)
    older["open_count"] = len(older["fds"])
    assert gone and schema_errors(older) == []
    (tmp_path / "old.json").write_text(json.dumps(older))
    (tmp_path / "new.json").write_text(json.dumps(newer))
    result = subprocess.run([CLI, "diff", tmp_path / "old.json", tmp_path / "new.json", "--json"],
                            capture_output=True, text=True, timeout=20)
    assert result.returncode == 0, result.stderr
    diff = checked_json(result.stdout, "fdtrack diff --json")
    assert diff["schema"] == "fdtrack-diff/1" and diff["grown"][0]["growth"] == len(gone), diff
    diff["grown"][0]["growth"] = 0
    diff["grown"][0]["site"].pop("frames")
    errors = schema_errors(diff)
    assert any(e.startswith("$.grown[0].growth: ") for e in errors), errors
    assert any(e.startswith("$.grown[0].site: ") for e in errors), errors


def test_debians_jsonschema_command_checks_a_report_as_the_docs_say(fdtrack_build, demo_report, tmp_path):
    """docs/spec.md: `jsonschema -i REPORT docs/report.schema.json` (Debian's python3-jsonschema)."""
    good = tmp_path / "good.json"
    good.write_text(json.dumps(demo_report.data))
    checked = subprocess.run(["/usr/bin/jsonschema", "-i", good, SCHEMA], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(dict(demo_report.data, trigger="crash")))
    refused = subprocess.run(["/usr/bin/jsonschema", "-i", bad, SCHEMA], capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and "'crash' is not one of" in refused.stdout + refused.stderr, refused
