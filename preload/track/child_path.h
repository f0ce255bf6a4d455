// Marks the code every new process runs, tracked or not: a fork child's
// handlers and its exec, an exec'd child's constructor and its decision.
// Such a process has not touched the library's pages yet, and each page of
// code it runs is a page fault (~5 us on a virtual machine; issue #10 gives a
// fork 50 us and an exec'd child 100 us). Marked functions go to .text.hot,
// which the linker puts next to the constructors' .text.startup: a few pages
// in all, instead of one per function.
#pragma once

#define FDTRACK_CHILD_PATH __attribute__((hot))
