// Why rediss:// is refused: Debian 12's hiredis is 0.14.1, which has no
// TLS (hiredis_ssl arrived in 1.0). One message for every place that meets
// such a URL (configuration, the store and coordinator registries, the
// client's URL parser).
#ifndef POPQUEUE_COMMON_REDIS_REDIS_NO_TLS_H_
#define POPQUEUE_COMMON_REDIS_REDIS_NO_TLS_H_

namespace popqueue::redis {

inline constexpr char kNoTlsMessage[] =
    "rediss:// (Redis over TLS) is not supported: the hiredis of this build "
    "(Debian's 0.14) has no TLS; run a TLS tunnel such as stunnel or spiped "
    "next to popqueue and give its local redis:// address "
    "(docs/security.md#redis-over-tls)";

}  // namespace popqueue::redis

#endif  // POPQUEUE_COMMON_REDIS_REDIS_NO_TLS_H_
