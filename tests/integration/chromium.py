"""Headless Chromium (Debian's `chromium` package) driven over the DevTools
protocol, for the tests of fdtrack's HTML report.

Why the protocol, over a pipe: `--remote-debugging-pipe` makes Chromium read
commands on fd 3 and answer on fd 4, NUL-separated JSON, so no port is opened
and no websocket client is needed (Python's standard library is enough). The
protocol reports what the tests must see and a `--dump-dom` run cannot:
console messages, uncaught exceptions, Content-Security-Policy violations and
every request the page makes. Chromium also runs with a proxy that refuses
everything, so even a request the page's policy let through would fail.

Run by hand, it takes a screenshot of a page (the README's picture):
    python3 tests/integration/chromium.py PAGE.html OUT.png [--width 1280] [--height 1500] [--hash 'site=3']
"""

import base64
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


class ChromiumError(Exception):
    pass


class Page:
    """One tab of a headless Chromium, with every protocol event it sent."""

    def __init__(self, browser, session):
        self.browser = browser
        self.session = session

    def call(self, method, **params):
        return self.browser.call(method, params, self.session)

    def evaluate(self, expression):
        """The value of a JavaScript expression in the page (awaited if a promise)."""
        answer = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in answer:
            raise ChromiumError(f"{expression!r} threw: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    def events(self, method):
        return [event["params"] for event in self.browser.events
                if event.get("method") == method and event.get("sessionId") == self.session]

    def problems(self):
        """Console errors and warnings, uncaught exceptions and browser log errors
        (a Content-Security-Policy violation, a failed load), one line each."""
        found = []
        for call in self.events("Runtime.consoleAPICalled"):
            if call["type"] in ("error", "warning", "assert"):
                found.append(f"console.{call['type']}: " + " ".join(str(a.get("value", a.get("description")))
                                                                      for a in call["args"]))
        for thrown in self.events("Runtime.exceptionThrown"):
            details = thrown["exceptionDetails"]
            found.append(f"exception: {details.get('exception', {}).get('description') or details.get('text')}")
        for entry in self.events("Log.entryAdded"):
            if entry["entry"]["level"] in ("error", "warning"):
                found.append(f"log {entry['entry']['source']}: {entry['entry']['text']}")
        return found

    def requests(self):
        """The URL of every request the page made, its own document included."""
        return [sent["request"]["url"] for sent in self.events("Network.requestWillBeSent")]

    def screenshot(self, path, full_page=True):
        """A PNG of the page: all of it, or only what the window shows."""
        params = {"format": "png"}
        if full_page:
            size = self.call("Page.getLayoutMetrics")["cssContentSize"]
            params.update(captureBeyondViewport=True,
                          clip={"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1})
        answer = self.call("Page.captureScreenshot", **params)
        Path(path).write_bytes(base64.b64decode(answer["data"]))
        return Path(path)

    def wait_for(self, expression, timeout=10):
        deadline = time.monotonic() + timeout
        while not self.evaluate(expression):
            if time.monotonic() > deadline:
                raise ChromiumError(f"timed out waiting for {expression!r}")
            time.sleep(0.05)


class Chromium:
    """A headless Chromium with a private profile, closed on exit of the `with` block."""

    def __init__(self, width=1280, height=900, timeout=60):
        self.width, self.height, self.timeout = width, height, timeout
        self.events = []
        self._buffer = b""
        self._next_id = 0

    def __enter__(self):
        if not os.path.exists(CHROMIUM):
            raise ChromiumError(f"{CHROMIUM} not found: apt-get install chromium (scripts/setup.sh installs it)")
        self.profile = tempfile.mkdtemp(prefix="fdtrack-chromium-")
        commands_read, self._commands = os.pipe()
        self._answers, answers_write = os.pipe()

        def child_fds():
            # fd 3: what Chromium reads, fd 4: where it writes. Moved out of
            # the way first, in case the pipes themselves got numbers 3 or 4.
            read_end, write_end = os.dup2(commands_read, 100), os.dup2(answers_write, 101)
            os.dup2(read_end, 3)
            os.dup2(write_end, 4)

        argv = [CHROMIUM, "--headless=new", "--remote-debugging-pipe", f"--user-data-dir={self.profile}",
                # root in a container has no user namespace for the sandbox, and no GPU
                "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
                "--disable-extensions", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--hide-scrollbars", "--mute-audio", "--lang=en-US",
                # Nothing reaches a network: every request goes to a proxy that is not there.
                "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
                f"--window-size={self.width},{self.height}", "about:blank"]
        # Its log goes to a file: a pipe nobody reads would stop it once full.
        self.log = open(Path(self.profile) / "chromium.log", "w+b")
        self.process = subprocess.Popen(argv, preexec_fn=child_fds, close_fds=False, stdin=subprocess.DEVNULL,
                                        stdout=self.log, stderr=self.log)
        os.close(commands_read)
        os.close(answers_write)
        return self

    def __exit__(self, *exc):
        try:
            self.call("Browser.close", {})
        except (ChromiumError, OSError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._commands)
        os.close(self._answers)
        self.log.close()
        shutil.rmtree(self.profile, ignore_errors=True)

    def _receive(self, timeout):
        while b"\0" not in self._buffer:
            ready, _, _ = select.select([self._answers], [], [], timeout)
            if not ready:
                raise TimeoutError
            chunk = os.read(self._answers, 1 << 20)
            if not chunk:
                self.log.seek(0)
                raise ChromiumError(f"chromium ended: {self.log.read().decode(errors='replace')[-2000:]}")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        return json.loads(message)

    def call(self, method, params, session=None):
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                answer = self._receive(max(0.1, deadline - time.monotonic()))
            except TimeoutError:
                raise ChromiumError(f"no answer to {method} in {self.timeout}s") from None
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise ChromiumError(f"{method}: {answer['error']}")
                return answer.get("result", {})
            self.events.append(answer)

    def drain(self, seconds):
        """Collects the events that arrive within `seconds`."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                self.events.append(self._receive(left))
            except TimeoutError:
                return

    def open(self, url, ready="document.body && document.body.dataset.ready === 'true'"):
        """A new tab showing `url` (a path or a URL) once `ready` holds, with
        the console, exceptions, log and network watched from the start."""
        if isinstance(url, Path) or "://" not in str(url):
            url = Path(url).resolve().as_uri()
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, session)
        for domain in ("Runtime", "Log", "Network", "Page"):
            page.call(f"{domain}.enable")
        page.call("Emulation.setDeviceMetricsOverride", width=self.width, height=self.height, deviceScaleFactor=1,
                  mobile=False)
        page.call("Page.navigate", url=str(url))
        deadline = time.monotonic() + self.timeout
        while not page.events("Page.loadEventFired"):
            if time.monotonic() > deadline:
                raise ChromiumError(f"{url} did not load in {self.timeout}s")
            self.drain(0.1)
        page.wait_for(ready)
        self.drain(0.3)  # late console messages and requests
        return page


def main():
    import argparse

    parser = argparse.ArgumentParser(description="Screenshot of a page in headless Chromium")
    parser.add_argument("page")
    parser.add_argument("png")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=900)
    parser.add_argument("--hash", default="", help="the #fragment to open the page with (fdtrack's: site=ID&sort=KEY)")
    parser.add_argument("--window", action="store_true", help="only what the window shows, not the whole page")
    args = parser.parse_args()
    with Chromium(args.width, args.height) as browser:
        url = Path(args.page).resolve().as_uri() + (f"#{args.hash}" if args.hash else "")
        page = browser.open(url)
        for problem in page.problems():
            print("page problem:", problem)
        page.screenshot(args.png, full_page=not args.window)
    print(args.png)


if __name__ == "__main__":
    main()
