"""fdtrack report --html and fdtrack diff --html (issue #11): one page that
opens from disk, checked in headless Chromium (Debian's `chromium`, driven
over the DevTools protocol by chromium.py): it loads with no console message,
exception or policy violation, makes no request but its own file, shows the
numbers of the JSON, sorts and filters its site table, zooms its icicle, and a
page of a program with hostile names runs none of them.

The screenshot of the leaky service's page is kept as a test artifact:
`html-report.png` in the test's pytest temporary directory (pytest prints
it with -rA; under /tmp/pytest-of-<user>/), and copied into
$FDTRACK_ARTIFACTS_DIR when that is set.
"""

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chromium import Chromium
from conftest import CLI, SOURCE_DIR, checked_json, run_fdtrack
from test_python_apis import Service

PYTHON = "/usr/bin/python3"
needs_python = pytest.mark.skipif(not Path(PYTHON).exists(), reason=f"{PYTHON} is missing")


def fdtrack(*args):
    return subprocess.run([str(CLI), *map(str, args)], capture_output=True, text=True, timeout=60)


def write_page(tmp_path, name, *args):
    page = tmp_path / name
    proc = fdtrack(*args, "--html", page)
    assert proc.returncode == 0 and proc.stdout == "" and proc.stderr == "", proc.stderr
    return page


@pytest.fixture(scope="module")
def browser():
    with Chromium(width=1280, height=900) as chromium:
        yield chromium


def open_page(browser, path, fragment=""):
    """The page in a new tab; fails on anything it reported while loading."""
    url = Path(path).resolve().as_uri() + (f"#{fragment}" if fragment else "")
    page = browser.open(url)
    assert page.problems() == [], page.problems()
    assert all(url.startswith("file://") for url in page.requests()), page.requests()
    return page


def growth(history):
    """report/growth.h's rule, for checking the page: (change, per minute) when
    the count now is above its first sample and above its count halfway; else None."""
    if len(history) < 2:
        return None
    (t0, c0), (t1, c1) = history[0], history[-1]
    halfway, count_then = t0 + (t1 - t0) // 2, c0
    for time_, count in history:
        if time_ > halfway:
            break
        count_then = count
    if c1 - c0 > 0 and c1 > count_then:
        return c1 - c0, (c1 - c0) * 60 / (t1 - t0)
    return None


def table(page):
    """The visible rows of the site table: a dict per row, column key -> its text."""
    return page.evaluate("""Array.from(document.querySelectorAll('#sites-body tr')).map(tr =>
        Object.fromEntries(Array.from(tr.cells).map(td => [td.dataset.key, td.textContent])))""")


def fact(page, key):
    return page.evaluate(f"document.querySelector('dd[data-fact={key}]').textContent")


def click(page, selector):
    page.evaluate(f"document.querySelector({json.dumps(selector)}).click()")


# ---- the leaky service, watched for a few seconds ------------------------------------


@pytest.fixture(scope="module")
def service_reports(fdtrack_build, tmp_path_factory):
    """Two dumps of examples/leaky_service.py a few seconds apart, sampled
    every second, with requests in between, so its sites grow: (older, newer) paths."""
    if not Path(PYTHON).exists():
        pytest.skip(f"{PYTHON} is missing")
    workdir = tmp_path_factory.mktemp("html-service")
    paths = []
    with Service(SOURCE_DIR / "examples" / "leaky_service.py", PYTHON, workdir, env={"FDTRACK_INTERVAL": "1"}) as service:
        for dump in range(2):
            for second in range(4):
                statuses = [service.get(f"user{dump}-{second}-{i}") for i in range(3)]
                assert statuses == [200] * 3, service.stderr()
                time.sleep(1)
            path = workdir / f"dump{dump}.json"
            path.write_text(json.dumps(service.dump().data))
            paths.append(path)
    return paths


@pytest.fixture(scope="module")
def service_page(service_reports, tmp_path_factory):
    return write_page(tmp_path_factory.mktemp("html-page"), "report.html", "report", service_reports[1])


def test_the_page_is_one_file_that_loads_nothing(service_page):
    html = service_page.read_text()
    # Nothing to fetch: no src or href attribute, a policy that forbids loading anything.
    assert not re.search(r"""\b(src|href)\s*=""", html, re.IGNORECASE), re.findall(r".{40}(?:src|href)=.{40}", html)
    assert "default-src 'none'" in html
    assert len(re.findall(r"<script\b", html)) == 2  # the data and the page's script


def test_the_numbers_on_the_page_are_the_reports(browser, service_reports, service_page, tmp_path):
    report = json.loads(service_reports[1].read_text())
    page = open_page(browser, service_page)
    sites = {site["id"]: site for site in report["sites"] if site["count"] > 0}
    total = sum(site["count"] for site in sites.values())

    assert fact(page, "open") == f"{report['open_count']} / {report['rlimit_nofile']}"
    assert fact(page, "tracked") == f"{total} fds from {len(sites)} sites"
    assert fact(page, "interval") == "sampled every 1 s"
    rows = table(page)
    assert sorted(int(row["id"].lstrip("#")) for row in rows) == sorted(sites)
    grown = 0
    for row in rows:
        site = sites[int(row["id"].lstrip("#"))]
        assert int(row["count"]) == site["count"], row
        assert row["call"] == site["call"], row
        expected = growth(site["history"])
        if expected:
            grown += 1
            assert int(row["growth"]) == expected[0], (row, site["history"])
            assert float(row["rate"]) == pytest.approx(expected[1], abs=0.051), (row, site["history"])
        else:
            assert row["growth"] == row["rate"] == "", (row, site["history"])
    assert grown >= 2, rows  # the loops' epoll fds and socketpairs, the cached files
    assert fact(page, "growing") == f"{grown} sites"
    # Growing sites first, the fastest first, as in the text report.
    rates = [float(row["rate"]) if row["rate"] else float("-inf") for row in rows]
    assert rates[:grown] == sorted(rates[:grown], reverse=True) and rates[0] > 0, rows
    # The headline locations are the text report's.
    text = fdtrack("report", service_reports[1]).stdout
    for row in rows:
        assert f"from {row['where']} (" in text, (row, text)

    # The first site is shown: its chart has a point per sample, its fds are its own.
    top = sites[int(rows[0]["id"].lstrip("#"))]
    assert page.evaluate("document.querySelectorAll('#site-chart circle').length") == len(top["history"])
    assert page.evaluate("document.querySelectorAll('#process-chart circle').length") == len(
        report["history"]["open_fds"])
    shown_fds = page.evaluate("""Array.from(document.querySelectorAll('#site-fds tbody tr')).map(tr =>
        Array.from(tr.cells).slice(0, 3).map(td => td.textContent))""")
    expected_fds = sorted((fd for fd in report["fds"] if fd["site"] == top["id"]), key=lambda fd: fd["fd"])
    assert shown_fds == [[str(fd["fd"]), fd["kind"], fd["target"]] for fd in expected_fds]
    # Python frames and native frames told apart; the interpreter's native frames folded.
    assert page.evaluate("document.querySelectorAll('#stacks li.frame.python').length") == len(top["python"])
    folded = page.evaluate("Array.from(document.querySelectorAll('#stacks li.frame.folded')).map(li => li.textContent)")
    assert folded and all(re.match(r"… \d+ interpreter frames \(", line) for line in folded), folded
    file_line = rows[0]["where"].split(" in ")[0]  # "leaky_service.py:29"
    assert page.evaluate("document.querySelector('#stacks li.frame.python.user .loc').textContent").endswith(
        "/" + file_line)

    # The icicle: the root holds every open tracked fd, the calls end the stacks.
    assert page.evaluate("Number(document.querySelector('#icicle .node.root').dataset.value)") == total
    calls = page.evaluate("""Array.from(document.querySelectorAll('#icicle .node.call')).map(node =>
        [node.textContent, Number(node.dataset.value)])""")
    assert sum(value for _, value in calls) == total, calls
    # Debian's python3 holds _socket and select itself: below the Python frames, only the calls.
    assert page.evaluate("document.querySelectorAll('#icicle .node.python').length") > 0

    keep_screenshot(page, tmp_path)


def keep_screenshot(page, tmp_path):
    """The page as the browser drew it: tmp_path/html-report.png, and a copy in
    $FDTRACK_ARTIFACTS_DIR when set."""
    shot = page.screenshot(tmp_path / "html-report.png")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    artifacts = os.environ.get("FDTRACK_ARTIFACTS_DIR")
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(artifacts) / shot.name)
    print(f"screenshot of the HTML report: {shot}", file=sys.stderr)


def test_the_site_table_sorts_and_filters(browser, service_reports, service_page):
    report = json.loads(service_reports[1].read_text())
    page = open_page(browser, service_page)
    counts = lambda: [int(row["count"]) for row in table(page)]  # noqa: E731

    click(page, "#sites-head th[data-key=count]")
    assert counts() == sorted(counts(), reverse=True)
    assert "sort=count&order=desc" in page.evaluate("location.hash")
    click(page, "#sites-head th[data-key=count]")
    assert counts() == sorted(counts())
    assert page.evaluate("document.querySelector('#sites-head th[data-key=count]').getAttribute('aria-sort')") == \
        "ascending"
    click(page, "#sites-head th[data-key=where]")
    wheres = [row["where"] for row in table(page)]
    assert wheres == sorted(wheres, key=str.lower), wheres

    # The filter: what a site's headline, call, kinds, frames or targets contain.
    def type_filter(text):
        page.evaluate(f"""(() => {{ const box = document.getElementById('filter');
            box.value = {json.dumps(text)}; box.dispatchEvent(new Event('input')); }})()""")
        return sorted(int(row["id"].lstrip("#")) for row in table(page))

    with_os_name = sorted(site["id"] for site in report["sites"]
                          if site["count"] and any(f["function"] == "os_name" for f in site["python"]))
    assert with_os_name and type_filter("OS_NAME") == with_os_name
    assert page.evaluate("document.getElementById('shown-count').textContent").startswith(f"{len(with_os_name)} of ")
    assert type_filter("epoll_create1") == sorted(s["id"] for s in report["sites"] if s["call"] == "epoll_create1")
    assert type_filter("no such frame anywhere") == []
    assert page.evaluate("document.getElementById('no-sites').hidden") is False
    assert type_filter("") == sorted(site["id"] for site in report["sites"] if site["count"])
    assert page.problems() == []


def test_the_address_fragment_picks_the_view(browser, service_reports, service_page):
    report = json.loads(service_reports[1].read_text())
    small = min((site for site in report["sites"] if site["count"]), key=lambda site: (site["count"], site["id"]))
    page = open_page(browser, service_page, f"sort=count&order=asc&filter=leaky_service&site={small['id']}")
    counts = [int(row["count"]) for row in table(page)]
    assert counts == sorted(counts) and counts, counts
    assert page.evaluate("document.getElementById('filter').value") == "leaky_service"
    assert page.evaluate("document.querySelector('#sites-body tr.selected').dataset.site") == str(small["id"])
    assert page.evaluate("document.getElementById('site-heading').textContent").endswith(f"[site {small['id']}]")


def test_the_icicle_zooms_into_a_frame(browser, service_page):
    page = open_page(browser, service_page)
    assert page.evaluate("document.getElementById('icicle-reset').disabled") is True
    # The widest frame that is not the root.
    target = page.evaluate("""(() => {
        const nodes = Array.from(document.querySelectorAll('#icicle .node:not(.root)'));
        const node = nodes.filter(n => parseFloat(n.style.width) < 99)
                          .sort((a, b) => parseFloat(b.style.width) - parseFloat(a.style.width))[0];
        node.click();
        return node.textContent; })()""")
    assert page.evaluate("document.getElementById('icicle-reset').disabled") is False
    focus = page.evaluate("""(() => { const f = document.querySelector('#icicle .node.focus');
        return [f.textContent, f.style.width]; })()""")
    assert focus == [target, "100%"], focus
    function = target.split(" (")[0]  # the label is "function (file:line)"; the info names the whole path
    assert function in page.evaluate("document.getElementById('icicle-info').textContent")
    click(page, "#icicle-reset")
    assert page.evaluate("document.querySelector('#icicle .node.focus').classList.contains('root')") is True
    assert page.problems() == []


def test_the_diff_page_shows_the_grown_sites(browser, service_reports, tmp_path):
    older, newer = service_reports
    page_path = write_page(tmp_path, "diff.html", "diff", older, newer)
    diff = checked_json(fdtrack("diff", older, newer, "--json").stdout)
    page = open_page(browser, page_path)
    old, new = diff["old"]["open_count"], diff["new"]["open_count"]
    change = new - old
    assert fact(page, "open") == f"{old} → {new} ({'+' if change > 0 else ''}{change})"
    rows = table(page)
    assert [(int(r["id"].lstrip("#")), int(r["growth"]), int(r["old"]), int(r["count"])) for r in rows] == [
        (g["site"]["id"], g["growth"], g["old_count"], g["new_count"]) for g in diff["grown"]]
    assert len(rows) >= 2, rows
    total = sum(g["growth"] for g in diff["grown"])
    assert fact(page, "grown") == f"{total} more fds in {len(rows)} sites that grew"
    assert page.evaluate("Number(document.querySelector('#icicle .node.root').dataset.value)") == total
    assert page.evaluate("document.getElementById('site-fds-wrap').hidden") is True


# ---- a native program, hostile names ---------------------------------------------------


def test_a_native_programs_exit_report(browser, build_c, tmp_path):
    program = build_c("../../../examples/leaky.c")
    result = run_fdtrack([program.path], tmp_root=tmp_path)
    assert result.report is not None, result.describe()
    page = open_page(browser, write_page(tmp_path, "demo.html", "report", result.report.path))
    assert page.evaluate("document.querySelectorAll('#stacks li.frame.python').length") == 0
    assert page.evaluate("document.querySelectorAll('#stacks li.frame.native').length") > 0
    assert page.evaluate("document.querySelectorAll('#icicle .node.native').length") > 0
    assert page.evaluate("document.querySelectorAll('#icicle .node.python').length") == 0
    assert re.match(r"fdtrack: \S*leaky \(pid \d+\), exit report", page.evaluate("document.title"))
    others = [fd for fd in result.report["fds"] if fd["origin"] != "tracked"]
    assert page.evaluate("document.querySelectorAll('#other-fds tbody tr').length") == len(others)


def test_a_report_with_nothing_open_and_no_history(browser, fdtrack_build, tmp_path):
    result = run_fdtrack(["/bin/true"], env={"FDTRACK_INTERVAL": "0"}, tmp_root=tmp_path)
    assert result.report is not None and not result.report["sites"], result.describe()
    page = open_page(browser, write_page(tmp_path, "empty.html", "report", result.report.path))
    assert table(page) == []
    assert page.evaluate("document.getElementById('no-sites').textContent") == "No tracked fds open."
    assert page.evaluate("document.getElementById('site-section').hidden") is True
    assert fact(page, "interval") == "none kept (FDTRACK_INTERVAL=0)"


HOSTILE = "</script><script>document.title='pwned'</script>"


@needs_python
def test_hostile_names_stay_text(browser, fdtrack_build, tmp_path):
    """A program whose path, argv, Python frames and fd targets all hold
    `</script><script>…</script>`, `<!--` and an `<img onerror>`: the page shows
    them as text and runs none of them (the policy would log an attempt)."""
    # A path holds "/", so the markup spans directories: ".../<!--<img ...>x<" + "/script><script>...<" + "/script>".
    first, middle, last = HOSTILE.split("/")
    directory = tmp_path / f"<!--<img src=x onerror=\"document.title='pwned'\">{first}" / middle / last
    directory.mkdir(parents=True)
    script = directory / "app.py"
    script.write_text("import sys\nkept = [open(sys.argv[1], 'w')]\n")
    target = directory / "data.txt"
    result = run_fdtrack([PYTHON, script, target], tmp_root=tmp_path)
    assert result.report is not None, result.describe()
    assert any(HOSTILE in fd["target"] for fd in result.report["fds"])

    page_path = write_page(tmp_path, "hostile.html", "report", result.report.path)
    html = page_path.read_text()
    assert HOSTILE not in html and "<!--<img" not in html
    page = open_page(browser, page_path)
    assert "pwned" not in page.evaluate("document.title")
    assert page.evaluate("document.scripts.length") == 2
    assert page.evaluate("document.images.length") == 0
    body = page.evaluate("document.body.innerText")
    assert str(target) in body, body  # the fd's target, whole, as text
    assert page.evaluate("JSON.parse(document.getElementById('fdtrack-data').textContent).report.argv") == [
        PYTHON, str(script), str(target)]


# ---- the command line ----------------------------------------------------------------


def test_html_options_and_errors(fdtrack_build, tmp_path, service_reports):
    report = service_reports[1]
    both = fdtrack("report", report, "--json", "--html", tmp_path / "x.html")
    assert both.returncode == 2 and "--json excludes --html" in both.stderr, both.stderr
    # A directory, a missing directory, a device: one line, exit 2, nothing written.
    for out, why in ((tmp_path, "it is a directory"), (tmp_path / "no" / "x.html", "No such file or directory"),
                     (Path("/dev/null"), "it is not a regular file")):
        proc = fdtrack("report", report, "--html", out)
        assert proc.returncode == 2 and proc.stderr == f"fdtrack report: cannot write {out}: {why}\n", proc.stderr
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    proc = fdtrack("diff", broken, report, "--html", tmp_path / "d.html")
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1 and not (tmp_path / "d.html").exists()

    # An existing page is replaced whole; a link there is replaced, not followed.
    out = tmp_path / "page.html"
    out.write_text("old page")
    elsewhere = tmp_path / "elsewhere.html"
    elsewhere.write_text("not ours")
    link = tmp_path / "link.html"
    link.symlink_to(elsewhere)
    for path in (out, link):
        assert fdtrack("report", report, "--html", path).returncode == 0
        assert path.read_text().startswith("<!DOCTYPE html>") and not path.is_symlink()
    assert elsewhere.read_text() == "not ours"
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~current_umask()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temporary left
    # "-": the page on stdout; each page its own nonce.
    first, second = fdtrack("report", report, "--html", "-").stdout, fdtrack("report", report, "--html", "-").stdout
    nonce = re.compile(r"'nonce-([0-9a-f]{32})'")
    assert first.startswith("<!DOCTYPE html>") and nonce.search(first).group(1) != nonce.search(second).group(1)


def current_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask
