// ErrnoText(errno): the message of an errno value, safe from any thread
// (std::strerror may share one buffer between threads; this uses the GNU
// strerror_r into a buffer of the caller's stack).
#ifndef POPQUEUE_COMMON_ERRNO_TEXT_H_
#define POPQUEUE_COMMON_ERRNO_TEXT_H_

#include <string.h>

#include <string>

namespace popqueue {

inline std::string ErrnoText(int err) {
  char buffer[256];
  // GNU strerror_r returns the message, in `buffer` or a static string.
  return std::string(strerror_r(err, buffer, sizeof(buffer)));
}

}  // namespace popqueue

#endif  // POPQUEUE_COMMON_ERRNO_TEXT_H_
