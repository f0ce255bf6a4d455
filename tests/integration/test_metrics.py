"""Fleet view through Prometheus (issue #11): `fdtrack metrics PID...` prints
the text exposition, checked by Debian's `promtool check metrics`, with the
numbers a full dump gives; `fdtrack exporter` serves it, and a real
Prometheus server (Debian's /usr/bin/prometheus, on loopback, its own
config and storage in the test's directory) scrapes it and answers a PromQL
query that sees a site grow.

The exporter serves every tracked process of its user, root here: other
tests' processes may be scraped too, so the tests look only at their own pids."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from conftest import CLI
from test_live import cli, dump_json, live  # noqa: F401 (live is a fixture)

PROMTOOL = "/usr/bin/promtool"
PROMETHEUS = "/usr/bin/prometheus"
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


# ---- fdtrack exporter -------------------------------------------------------------------


class Exporter:
    """`fdtrack exporter` on a free loopback port, its stderr in a file."""

    def __init__(self, tmp_path, *args):
        self.stderr_path = Path(tmp_path) / f"exporter-{time.monotonic_ns()}.txt"
        with open(self.stderr_path, "w") as stderr:
            self.proc = subprocess.Popen([str(CLI), "exporter", "--listen", "127.0.0.1:0", *map(str, args)],
                                         stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True)
        deadline = time.monotonic() + 30
        while not (found := re.search(r"serving http://127\.0\.0\.1:(\d+)/metrics", self.stderr())):
            assert self.proc.poll() is None, f"the exporter exited: {self.proc.returncode}\n{self.stderr()}"
            assert time.monotonic() < deadline, f"the exporter did not start\n{self.stderr()}"
            time.sleep(0.02)
        self.port = int(found.group(1))
        self.url = f"http://127.0.0.1:{self.port}"

    def stderr(self):
        return self.stderr_path.read_text(errors="replace")

    def get(self, path, timeout=30):
        """(status, content type, body) of GET path."""
        try:
            with urllib.request.urlopen(self.url + path, timeout=timeout) as response:
                return response.status, response.headers["Content-Type"], response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.headers["Content-Type"], error.read().decode()

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
        try:
            return self.proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            raise AssertionError(f"the exporter did not stop on {sig!r}\n{self.stderr()}")


@pytest.fixture
def exporter(fdtrack_build, tmp_path):
    started = []

    def start(*args):
        started.append(Exporter(tmp_path, *args))
        return started[-1]

    yield start
    for server in started:
        server.stop(signal.SIGKILL)


def test_the_exporter_serves_metrics_an_index_and_404(build_c, live, exporter):
    proc = live([build_c("live_ctl.c").path])
    proc.ask("open 4")
    server = exporter()
    status, content_type, body = server.get("/metrics")
    assert status == 200 and content_type == "text/plain; version=0.0.4; charset=utf-8", (status, content_type)
    promtool_check(body)
    samples = parse_exposition(body)
    assert max(value for _, value in of_pid(samples, "fdtrack_site_open_fds", proc.pid)) == 4, body
    (found,) = [value for name, _, value in samples if name == "fdtrack_exporter_processes"]
    assert found >= 1

    status, content_type, body = server.get("/")
    assert status == 200 and content_type.startswith("text/html") and 'href="/metrics"' in body, body
    status, _, body = server.get("/nothing/here")
    assert status == 404 and "/metrics" in body, (status, body)
    assert server.stop(signal.SIGINT) == 0, server.stderr()


def test_a_hung_process_costs_a_scrape_its_timeout_only(build_c, live, exporter):
    """A tracked process that does not answer (stopped here) is left out after
    --timeout, and the others are still there; once it answers again, it is back."""
    program = build_c("live_ctl.c")
    hung, fine = live([program.path]), live([program.path])
    hung.ask("open 1")
    fine.ask("open 3")
    server = exporter("--timeout", "1")
    os.kill(hung.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        status, _, body = server.get("/metrics")
        took = time.monotonic() - started
    finally:
        os.kill(hung.pid, signal.SIGCONT)
    assert status == 200, body
    samples = parse_exposition(body)
    assert of_pid(samples, "fdtrack_open_fds", hung.pid) == []
    assert max(value for _, value in of_pid(samples, "fdtrack_site_open_fds", fine.pid)) == 3
    (unanswered,) = [value for name, _, value in samples if name == "fdtrack_exporter_unanswered_processes"]
    assert unanswered >= 1 and took < 10, (unanswered, took)
    assert f"fdtrack exporter: process {hung.pid} did not answer within 1 s\n" in server.stderr()

    status, _, body = server.get("/metrics")
    assert of_pid(parse_exposition(body), "fdtrack_open_fds", hung.pid), body
    assert server.stop() == 0, server.stderr()


def test_a_bad_address_or_a_port_in_use_is_one_line(fdtrack_build):
    for bad in ("9464", "localhost", "127.0.0.1:65536", "::1:9464", "127.0.0.1:port"):
        result = cli("exporter", "--listen", bad)
        assert result.returncode == 2 and result.stderr.count("\n") == 1, (bad, result.stderr)
        assert f"--listen '{bad}' is not HOST:PORT" in result.stderr, result.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        result = cli("exporter", "--listen", address)
    assert result.returncode == 2, result.stderr
    assert result.stderr == f"fdtrack exporter: cannot listen on {address}: Address already in use\n"


# ---- a real Prometheus server -----------------------------------------------------------


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Prometheus:
    """Debian's Prometheus on loopback, scraping `target` every second, with
    its configuration and storage in `directory`."""

    def __init__(self, directory, target):
        if not Path(PROMETHEUS).exists():
            pytest.skip(f"{PROMETHEUS} is missing: Debian's prometheus package installs it (scripts/setup.sh)")
        directory.mkdir()
        config = directory / "prometheus.yml"
        config.write_text("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                          "scrape_configs:\n  - job_name: fdtrack\n"
                          f"    static_configs:\n      - targets: ['{target}']\n")
        self.log = directory / "prometheus.log"
        self.url = f"http://127.0.0.1:{free_port()}"
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(
                [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={directory / 'data'}",
                 f"--web.listen-address={self.url[len('http://'):]}"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def query(self, promql):
        """The instant vector `promql` gives now: [(labels, value)]; [] before the server is ready."""
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                answer = json.load(response)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            assert self.proc.poll() is None, f"prometheus exited: {self.proc.returncode}\n{self.log.read_text()}"
            return []
        assert answer["status"] == "success", answer
        return [(item["metric"], float(item["value"][1])) for item in answer["data"]["result"]]

    def wait_for(self, promql, expected, timeout=120):
        """Polls until `promql` gives exactly the values `expected`."""
        deadline = time.monotonic() + timeout
        while (got := sorted(value for _, value in self.query(promql))) != expected:
            assert time.monotonic() < deadline, (
                f"{promql} gave {got}, not {expected}, for {timeout} s\n{self.log.read_text()[-3000:]}")
            time.sleep(0.25)

    def stop(self):
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


def test_prometheus_scrapes_the_exporter_and_sees_a_site_grow(build_c, live, exporter, tmp_path):
    program = build_c("live_ctl.c")
    proc = live([program.path])
    proc.ask("open 5")
    proc.ask("other 2")
    server = exporter("--timeout", "0.5")
    prometheus = Prometheus(tmp_path / "prometheus", f"127.0.0.1:{server.port}")
    try:
        grow = f'fdtrack_site_open_fds{{pid="{proc.pid}",location=~"live_ctl.c:[0-9]+ in leak_grow"}}'
        prometheus.wait_for(grow, [5])
        proc.ask("open 20")
        prometheus.wait_for(f"max_over_time({grow}[1m]) - min_over_time({grow}[1m])", [20])
        assert [v for _, v in prometheus.query(f"delta({grow}[1m]) > 0")], "no growth in delta()"
        # The steady site did not grow.
        steady = f'fdtrack_site_open_fds{{pid="{proc.pid}",location=~"live_ctl.c:[0-9]+ in leak_steady"}}'
        assert [v for _, v in prometheus.query(f"max_over_time({steady}[1m]) - min_over_time({steady}[1m])")] == [0]
    finally:
        prometheus.stop()
