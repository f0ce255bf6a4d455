// Attach mode's way in: each loaded object's GOT entries for the functions
// libfdtrack.so hooks are rewritten to point at the hooks, and put back at detach.
//
// Under LD_PRELOAD the loader binds every object's references to fdtrack's
// exported definitions because fdtrack comes first in the lookup scope. A
// library dlopen'ed into a running process comes last, so attach mode does
// that binding itself: for every R_X86_64_JUMP_SLOT, R_X86_64_GLOB_DAT and
// R_X86_64_64 relocation whose symbol libfdtrack.so exports as a function
// (its dynamic symbol table is the list: exactly what the preload
// interposes), the entry gets the hook's address. libfdtrack.so's own
// entries too, so that fdtrack's own I/O goes through its hooks as under the
// preload (its own fds are adopted and hidden). The loader (ld.so) is left
// alone: it has no such relocations and its GOT is used while loading.
#pragma once

namespace fdtrack {

// Redirects every loaded object's entries that do not point at a hook yet,
// keeping the values they held. Idempotent: run again to catch objects
// loaded meanwhile, or entries the loader's lazy binding wrote back. Returns
// how many entries it wrote, or -1 when an entry could not be written (those
// already written stay: call restore_redirected_entries() to undo).
int redirect_loaded_objects();

// Cheap check, then redirect_loaded_objects() if an object was loaded since
// the last pass (dl_iterate_phdr's dlpi_adds): for the dump thread, which
// catches objects glibc loads internally (NSS modules, iconv) that the
// dlopen hook does not see.
void redirect_new_objects();

// Puts back every entry that still points at a hook, in every object still
// loaded, to the value it held before (the loader's PLT stub under lazy
// binding, or the libc function). An entry the program rewrote since is left
// as it is. Forgets every saved entry. Returns how many it restored.
int restore_redirected_entries();

// Whether redirection is on (between the first redirect and the restore):
// the dlopen hook and the dump thread redirect new objects only then.
bool redirecting();

}  // namespace fdtrack
