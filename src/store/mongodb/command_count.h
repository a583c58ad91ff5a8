// How many commands this process's MongoDB stores have sent to their servers:
// every command the driver starts (find, getMore, insert, update,
// findAndModify, delete, aggregate, ...; each is one round trip), counted by
// the driver's command monitoring on every pool the store opens. Server
// monitoring (hello heartbeats) is not counted. Thread-safe; for benchmarks
// (bench/throughput.cc prints commands per job) and tests. Includes nothing
// from the driver, so callers need not.
#ifndef POPQUEUE_STORE_MONGODB_COMMAND_COUNT_H_
#define POPQUEUE_STORE_MONGODB_COMMAND_COUNT_H_

#include <cstdint>

namespace popqueue::store::mongodb {

// Commands sent since the process started.
int64_t CommandsSent();

}  // namespace popqueue::store::mongodb

#endif  // POPQUEUE_STORE_MONGODB_COMMAND_COUNT_H_
