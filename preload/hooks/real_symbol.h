// Finds the next definition of a libc function after fdtrack's own (what
// RTLD_NEXT means) without calling dlsym, which may allocate: a hook can be
// reached from inside a custom allocator's initialisation.
#pragma once

#include <link.h>

#include <atomic>

namespace fdtrack {

// The address of the next definition of `name`, or nullptr.
void* find_next_symbol(const char* name);

// Attach mode: libfdtrack.so was dlopen'ed after start, so it is last in the
// link map and nothing comes "after" it. The real function is then the first
// definition that is not ours, in link-map order: the one the program's own
// references were bound to. Set once, by the constructor, before any lookup.
void find_real_symbols_anywhere();

// `name`'s default-version function definition in the object `info`
// describes, or nullptr (GNU hash tables only; not IFUNCs).
void* find_symbol_in(const dl_phdr_info* info, const char* name);

// Reports once on stderr that `name` has no real definition; hooks then fail
// with ENOSYS rather than crash.
void report_missing_symbol(const char* name);

// A typed handle on the real function behind one hook, resolved on first use.
// Constant-initialised, so it works before any constructor has run.
// The name is kept in the handle itself, not pointed to: a pointer is a
// relocation, which would write the handles' page in every process that
// loads the library, one that never calls a hook too (issue #10, item 8).
template <typename Fn>
class Real {
public:
    template <size_t N>
    constexpr explicit Real(const char (&name)[N]) {
        static_assert(N <= sizeof name_, "a longer name than any hooked function's");
        for (size_t i = 0; i < N; ++i) name_[i] = name[i];
    }

    Fn get() {
        Fn fn = fn_.load(std::memory_order_acquire);
        return fn ? fn : resolve();
    }

    // Resolves it now, ahead of its first call; silent if there is none.
    void prepare() {
        if (fn_.load(std::memory_order_acquire)) return;
        if (Fn fn = reinterpret_cast<Fn>(find_next_symbol(name_))) fn_.store(fn, std::memory_order_release);
    }

private:
    Fn resolve() {
        // Racing threads find the same address, so a plain store is enough.
        Fn fn = reinterpret_cast<Fn>(find_next_symbol(name_));
        if (fn) fn_.store(fn, std::memory_order_release);
        else report_missing_symbol(name_);
        return fn;
    }

    char name_[24] = {};
    std::atomic<Fn> fn_{nullptr};
};

}  // namespace fdtrack
