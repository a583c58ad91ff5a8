// SIGINT/SIGTERM handling for Queue::Start(): the first signal runs every
// registered callback (a graceful Stop()) on a watcher thread, never inside
// the signal handler. Previous handlers are restored when the last callback
// is removed.
#ifndef POPQUEUE_CORE_SIGNALS_H_
#define POPQUEUE_CORE_SIGNALS_H_

#include <functional>

namespace popqueue::core {

// Returns a handle for RemoveStopSignalCallback.
int AddStopSignalCallback(std::function<void()> callback);
void RemoveStopSignalCallback(int handle);

}  // namespace popqueue::core

#endif  // POPQUEUE_CORE_SIGNALS_H_
