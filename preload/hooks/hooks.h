// What the library's life cycle needs from the hooks (hooks.cpp) beyond the
// exported functions themselves.
#pragma once

namespace fdtrack {

// Looks up the real exec functions now: a fork's prepare handler. A child
// that execs at once would otherwise look them up itself, reading the
// loaded objects' symbol tables into memory it has just been given by the
// fork (about 20 page faults in every such child, issue #10, item 8).
void resolve_exec_functions();

}  // namespace fdtrack
