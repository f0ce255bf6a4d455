// The automatic dump triggers (threshold and EMFILE).
#include "preload/triggers.h"

namespace fdtrack {

void fd_count_rose() {}

void out_of_fds() {}

}  // namespace fdtrack
