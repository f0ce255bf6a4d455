"""One line leaks in a hot loop: CPython 3.11 specialises the code once it is
warm, so the same Python call reaches open() through another C path."""
files = []


def leak():
    files.append(open("/etc/hostname"))  # LEAK: warm


for _ in range(300):
    leak()
