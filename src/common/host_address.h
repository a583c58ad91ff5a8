// This host's network address as a given server sees it, for the worker
// registry (WorkerInfo::address): with workers on many hosts, `popqueue
// workers` says which machine each one is, by the address the store or
// coordinator sees, not by a host name that may be the same in every
// container.
//
// The address is the local end of the route to the server: a UDP socket is
// connect()ed to the server's host and port and getsockname() read. A UDP
// connect only selects the route and the source address; no packet is sent,
// so it costs nothing on the network and works while the server is down.
// Thread-safe (no state); it may block for the name resolution of the
// server's host, as connecting to it does.
#ifndef POPQUEUE_COMMON_HOST_ADDRESS_H_
#define POPQUEUE_COMMON_HOST_ADDRESS_H_

#include <optional>
#include <string>
#include <string_view>

namespace popqueue {

// The local address (numeric, "10.0.0.2" or "fd00::2") of the route to
// host:port, or nullopt when there is none (empty host, a Unix-socket path,
// a name that does not resolve, no route).
std::optional<std::string> LocalAddressTowards(const std::string& host, int port);

// The registry's view of this host for a store or coordinator URL: the local
// address towards the URL's (first) host, else gethostname() (SQLite, Unix
// sockets, unresolvable names).
std::string RegistryAddress(std::string_view url);

// gethostname(), "unknown-host" when it fails.
std::string LocalHostname();

}  // namespace popqueue

#endif  // POPQUEUE_COMMON_HOST_ADDRESS_H_
