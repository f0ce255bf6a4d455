"""The greeting service of leaky_service.py with its two fd leaks fixed:
each request's event loop is closed when the request is done, and the
/etc/os-release file is read inside a `with` block.

    python3 examples/fixed_service.py [--port 8000]
"""
import argparse
import asyncio
import http.server
import os
import time


def run_on_new_loop(coroutine):
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.close()  # the epoll fd and the socketpair go with it


def os_name():
    with open("/etc/os-release") as release:
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
        body = run_on_new_loop(render(who, os_name())).encode()
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
    print(f"fixed service (pid {os.getpid()}) at http://127.0.0.1:{server.server_address[1]}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
