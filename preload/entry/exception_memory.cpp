// Memory for the exceptions fdtrack's own code throws: malloc, and when that
// fails a small reserve in .bss, instead of libsupc++'s emergency pool.
//
// libstdc++ is linked into the library (issue #10, item 8). Its emergency
// pool is a 71 KiB malloc made by a constructor in every process the library
// is loaded into: two page faults (~10 us on a virtual machine) in each
// exec'd child fdtrack does not track, and a block in the heap of every
// program. Defining the functions of libsupc++'s eh_alloc.o here keeps that
// object, and its constructor, out of the link. The reserve, like the pool,
// lets a bad_alloc be thrown (and caught inside fdtrack) when malloc fails;
// untouched, it costs no memory.
#include <stdlib.h>
#include <string.h>
#include <unwind.h>

#include <atomic>
#include <cstdint>
#include <exception>

namespace {

// The header libsupc++ puts before each thrown object (the Itanium C++ ABI's
// __cxa_exception, with libstdc++'s reference count in front), and before a
// dependent exception (std::rethrow_exception): their sizes are what the
// allocation adds.
struct ExceptionHeader {
    void* type;
    void (*destructor)(void*);
    void (*unexpected_handler)();
    void (*terminate_handler)();
    void* next;
    int handler_count;
    int handler_switch_value;
    const unsigned char* action_record;
    const unsigned char* language_specific_data;
    _Unwind_Ptr catch_temp;
    void* adjusted_pointer;
    _Unwind_Exception unwind_header;
};
struct RefcountedExceptionHeader {
    int reference_count;
    ExceptionHeader exception;
};
struct DependentException {  // its first field is the primary exception, in place of `type`
    ExceptionHeader exception;
};
static_assert(sizeof(RefcountedExceptionHeader) == 128 && sizeof(DependentException) == 112,
              "the x86-64 and AArch64 layouts of libsupc++'s unwind-cxx.h");

constexpr size_t kReserveSlot = 1024;
constexpr int kReserveSlots = 16;
alignas(16) unsigned char g_reserve[kReserveSlots][kReserveSlot];
std::atomic<bool> g_reserve_taken[kReserveSlots];

void* take_reserve(size_t size) {
    if (size > kReserveSlot) return nullptr;
    for (int i = 0; i < kReserveSlots; ++i) {
        if (!g_reserve_taken[i].exchange(true, std::memory_order_acquire)) return g_reserve[i];
    }
    return nullptr;
}

bool give_back_reserve(void* block) {
    auto address = reinterpret_cast<uintptr_t>(block), start = reinterpret_cast<uintptr_t>(g_reserve);
    if (address < start || address >= start + sizeof g_reserve) return false;
    g_reserve_taken[(address - start) / kReserveSlot].store(false, std::memory_order_release);
    return true;
}

void* allocate(size_t size) {
    void* block = malloc(size);
    if (!block) block = take_reserve(size);
    if (!block) std::terminate();  // as libsupc++ does once its pool is spent
    return block;
}

void release(void* block) {
    if (!give_back_reserve(block)) free(block);
}

}  // namespace

extern "C" {

void* __cxa_allocate_exception(size_t thrown_size) noexcept {
    void* block = allocate(thrown_size + sizeof(RefcountedExceptionHeader));
    memset(block, 0, sizeof(RefcountedExceptionHeader));
    return static_cast<char*>(block) + sizeof(RefcountedExceptionHeader);
}

void __cxa_free_exception(void* thrown_object) noexcept {
    release(static_cast<char*>(thrown_object) - sizeof(RefcountedExceptionHeader));
}

void* __cxa_allocate_dependent_exception() noexcept {
    void* block = allocate(sizeof(DependentException));
    memset(block, 0, sizeof(DependentException));
    return block;
}

void __cxa_free_dependent_exception(void* exception) noexcept { release(exception); }

}  // extern "C"

namespace __gnu_cxx {
// Called by valgrind at exit to free libsupc++'s pool: there is none.
void __freeres() noexcept {}
}  // namespace __gnu_cxx
