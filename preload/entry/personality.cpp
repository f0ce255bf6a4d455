// Sets up the unwinder linked into the library the first time one of the
// library's frames is unwound, instead of in every process it is loaded into.
//
// libgcc is linked in (issue #10, item 8), so a hook's frame names the
// library's own copy of the C++ personality routine. When glibc cancels a
// thread blocked inside a hook, libgcc_s unwinds the stack and calls that
// routine, which installs the hook's cleanup with the library's copy of
// _Unwind_SetGR: that copy aborts until its register table is filled, which
// only its own first unwind does. The constructor used to take a backtrace to
// fill it, in every process: five page faults (~25 us on a virtual machine)
// in each exec'd child fdtrack does not track. The link wraps the personality
// routine (-Wl,--wrap=__gxx_personality_v0) so that the table is filled just
// before its first use.
#include <unwind.h>

#include <atomic>

#include "preload/track/native_stack.h"

extern "C" {

_Unwind_Reason_Code __real___gxx_personality_v0(int version, _Unwind_Action actions, _Unwind_Exception_Class type,
                                                _Unwind_Exception* exception, _Unwind_Context* context);

__attribute__((visibility("hidden"))) _Unwind_Reason_Code __wrap___gxx_personality_v0(
    int version, _Unwind_Action actions, _Unwind_Exception_Class type, _Unwind_Exception* exception,
    _Unwind_Context* context) {
    static std::atomic<bool> prepared{false};
    if (!prepared.load(std::memory_order_acquire)) {
        fdtrack::prepare_linked_unwinder();  // two threads may both do it: harmless
        prepared.store(true, std::memory_order_release);
    }
    return __real___gxx_personality_v0(version, actions, type, exception, context);
}

}  // extern "C"
