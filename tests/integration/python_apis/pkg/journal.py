"""An append-only journal that opens its file on every call and never closes it."""


def open_journal(path):
    return open(path, "a")  # LEAK: package
