"""A small greeting web service that leaks file descriptors the way real
Python services do; examples/README-python.md finds its leaks with fdtrack.

Each request renders its page on an asyncio event loop and reads the host's
OS name from /etc/os-release. Two bugs keep fds open for good:
- one event loop "per worker thread", but ThreadingHTTPServer starts a new
  thread for every request, so every request creates a loop (an epoll fd and
  a socketpair) that is never closed;
- open files cached by request path, query string included, so every new
  URL opens the file again and nothing closes it.
Both are referenced forever, so CPython never closes them by itself.

    python3 examples/leaky_service.py [--port 8000]
"""
import argparse
import asyncio
import http.server
import os
import threading
import time

_loops = {}  # thread name -> its event loop
_open_files = {}  # request path -> open /etc/os-release


def thread_loop():
    name = threading.current_thread().name
    if name not in _loops:
        _loops[name] = asyncio.new_event_loop()  # leaks: a new thread per request
    return _loops[name]


def os_name(request_path):
    release = _open_files.get(request_path)
    if release is None:
        release = _open_files[request_path] = open("/etc/os-release")  # leaks: one per distinct URL
    release.seek(0)
    for line in release:
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip().strip('"')
    return "an unknown OS"


async def render(who, where):
    await asyncio.sleep(0)  # stands in for the real service's awaits (database, cache...)
    return f"Hello {who}, from {where} at {time.strftime('%H:%M:%S')}\n"


class Greeter(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        who = self.path.partition("?")[2] or "stranger"
        body = thread_loop().run_until_complete(render(who, os_name(self.path))).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass  # keep stderr for fdtrack's messages


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8000, help="TCP port on 127.0.0.1 (0: any free port)")
    args = parser.parse_args()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Greeter)
    print(f"leaky service (pid {os.getpid()}) at http://127.0.0.1:{server.server_address[1]}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
