"""`python -m fdtrack`: the fdtrack CLI, where `run` runs Python code with this interpreter
(`python -m fdtrack run app.py`, `-m module`, `-c code`); every other command is passed as is."""

import sys

from fdtrack import cli

args = sys.argv[1:]
if args and args[0] == "run" and not {"-h", "--help"} & set(args[1:2]):
    args = cli.python_run_args(args[1:])
cli.exec_cli(args)
