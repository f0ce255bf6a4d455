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
    // In a fork child, before its first use there. True when a thread of the
    // parent held it at the fork: what it guards may be half changed, and
    // the caller starts that afresh.
    bool reset_after_fork() {
        if (pthread_mutex_trylock(&mutex_) == 0) {
            pthread_mutex_unlock(&mutex_);
            return false;
        }
        pthread_mutex_init(&mutex_, nullptr);
        return true;
    }

private:
    pthread_mutex_t mutex_ = PTHREAD_MUTEX_INITIALIZER;
};

}  // namespace fdtrack
