"""Opens a file from a sub-interpreter and then from the main one. Frames of
sub-interpreters are not read: what the sub-interpreter does is attributed to
the main interpreter's frame that entered it."""
import _xxsubinterpreters as interpreters

interp = interpreters.create()  # LINE <module>
interpreters.run_string(interp, "import os; os.open('/etc/hostname', os.O_RDONLY)")  # LINE <module>
interpreters.destroy(interp)
f = open("/etc/hostname")  # LINE <module>
