"""Leaks of both kinds an exit report tells apart: objects still referenced
when the program ends, which interpreter shutdown then closes, and raw fds
that nothing ever closes. Prints the fd numbers of each kind as JSON."""
import json
import os
import socket

held_socket = socket.socket()  # LEAK: held-socket
held_files = [open(os.devnull) for _ in range(2)]  # LEAK: held-files
never_read, never_write = os.pipe()  # LEAK: never-closed

print(json.dumps({
    "held_until_exit": [held_socket.fileno()] + [f.fileno() for f in held_files],
    "never_closed": [never_read, never_write],
}))
