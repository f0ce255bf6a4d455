"""Opens a file from inside a package module."""


def open_from_package(path):
    return open(path)  # LINE open_from_package
