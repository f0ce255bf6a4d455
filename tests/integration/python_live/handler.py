"""A Python program with its own SIGUSR1 handler (signal.signal). Prints
"ready", then answers each stdin line: "count" -> "handled N", "exit" ->
exits with status 7."""
import signal
import sys

handled = 0


def on_usr1(signum, frame):
    global handled
    handled += 1


signal.signal(signal.SIGUSR1, on_usr1)
kept = open("/dev/null")
print("ready", flush=True)
for line in sys.stdin:
    if line == "count\n":
        print(f"handled {handled}", flush=True)
    elif line == "exit\n":
        sys.exit(7)
