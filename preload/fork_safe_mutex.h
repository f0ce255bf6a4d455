// A mutex for state the report paths share across threads (the report
// directories, the history), which a fork child can take again: the thread
// that held it at the fork is gone there. Constant-initialised, so it works
// before any constructor has run.
#pragma once

#include <pthread.h>

namespace fdtrack {

class ForkSafeMutex {
public:
    void lock() { pthread_mutex_lock(&mutex_); }
    void unlock() { pthread_mutex_unlock(&mutex_); }
    // In a fork child, from the atfork handler.
    void reset_after_fork() { pthread_mutex_init(&mutex_, nullptr); }

private:
    pthread_mutex_t mutex_ = PTHREAD_MUTEX_INITIALIZER;
};

}  // namespace fdtrack
