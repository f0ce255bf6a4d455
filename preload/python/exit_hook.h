// Runs a callback when a CPython program begins to shut down, from a Python
// atexit handler: before finalization closes the files and sockets the
// program leaked, so an exit report still sees them.
#pragma once

namespace fdtrack::python {

// Call from the library constructor, before main (so before Py_Initialize).
// In CPython 3.8 or later, registers a C audit hook
// that, once the main program starts (the "cpython.run_*" events), registers
// an atexit handler calling `callback` with the GIL held. Python atexit
// handlers run LIFO, so ours, registered before any of the program's, runs
// after all of them.
// Does nothing in other processes, or if Python is already initialised.
// The callback also runs in a child of os.fork() that exits through Python.
void install_exit_hook(void (*callback)());

}  // namespace fdtrack::python
