"""A clean Python parent that runs the program named by its arguments with
subprocess.run and exits with its status."""

import subprocess
import sys

sys.exit(subprocess.run(sys.argv[1:]).returncode)
