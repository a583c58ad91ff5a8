// A small, synchronous Redis client over hiredis, shared by the Redis job
// store (src/store/redis) and the Redis coordinator (src/coord/redis).
//
//   auto client = redis::Client::Connect(*ParseUrl("redis://:pw@host:6379/2"));
//   absl::StatusOr<redis::Reply> r = (*client)->Command({"GET", key});
//   redis::Script claim(source);
//   r = (*client)->Eval(claim, {key1, key2}, {arg1, arg2});
//
// - URLs: redis://[[user]:password@]host[:port][/db][?connect_timeout_ms=N&
//   timeout_ms=N&keepalive_s=N&pool_size=N]. AUTH (with user for Redis 6
//   ACLs) and SELECT run on every new connection.
// - Timeouts: connects give up after connect_timeout_ms (2000), commands
//   (and AUTH, SELECT, SUBSCRIBE's send) after timeout_ms (5000). Every
//   connection has TCP keepalives (keepalive_s, 15: probes after 15 s idle,
//   every 5 s, 3 unanswered = dead), which is what ends a pub/sub connection
//   that idles legitimately when the server host or the network dies.
// - Every value travels as a bound argument (redisCommandArgv): no command is
//   ever formatted from values.
// - Errors: the server cannot be reached, a connection breaks or a command
//   times out -> kUnavailable naming host:port (never the password); AUTH
//   refused -> kPermissionDenied; LOADING/BUSY/READONLY/TRYAGAIN/CLUSTERDOWN/
//   MOVED/ASK -> kUnavailable; OOM -> kResourceExhausted; other error
//   replies -> kInternal with the server's text. A call that failed with
//   kUnavailable may or may not have run on the server (the reply was lost).
// - Reconnects: a broken connection is dropped (with every idle connection
//   opened before it: they most likely point at the same dead server); the
//   next call opens a fresh one. After a failed connect, new connects wait
//   an exponential backoff (50 ms doubling to 2 s); calls in that window fail
//   at once with kUnavailable instead of each waiting for a timeout.
//
// Thread-safety: Client and Script are safe for concurrent use. Connection
// is not (one thread at a time); Client lends them out one per call.
#ifndef POPQUEUE_COMMON_REDIS_REDIS_CLIENT_H_
#define POPQUEUE_COMMON_REDIS_REDIS_CLIENT_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/mutex.h"
#include "common/url.h"

struct redisContext;

namespace popqueue::redis {

struct Options {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string user;      // Redis 6 ACL user; "" = the default user
  std::string password;  // "" = no AUTH
  int db = 0;            // SELECT db when non-zero
  absl::Duration connect_timeout = absl::Seconds(2);
  absl::Duration command_timeout = absl::Seconds(5);
  absl::Duration keepalive = absl::Seconds(15);  // TCP_KEEPIDLE; see above
  int pool_size = 8;  // idle connections kept; more may be open briefly

  // From a parsed redis:// URL (see the file comment). InvalidArgument for
  // other schemes, a bad db path or bad query values.
  static absl::StatusOr<Options> FromUrl(const Url& url);
  // "host:port", for messages.
  std::string Endpoint() const;
};

// A reply, copied out of hiredis's reply tree.
struct Reply {
  enum class Type { kString, kArray, kInteger, kNil, kStatus, kError };
  Type type = Type::kNil;
  std::string str;  // kString, kStatus, kError
  int64_t integer = 0;
  std::vector<Reply> elements;  // kArray

  bool is_nil() const { return type == Type::kNil; }
  bool is_error() const { return type == Type::kError; }
  // The integer of a kInteger reply, or a kString holding a decimal integer.
  absl::StatusOr<int64_t> AsInt() const;
};

// Maps an error reply to a Status (see the file comment); `endpoint` names
// the server in the message.
absl::Status ErrorReplyToStatus(std::string_view error_text,
                                std::string_view endpoint);

// A Lua script run with EVALSHA. Its SHA1 is learnt from SCRIPT LOAD on
// first use; a NOSCRIPT reply (server restarted or SCRIPT FLUSH) loads it
// again and retries once.
class Script {
 public:
  explicit Script(std::string source) : source_(std::move(source)) {}
  const std::string& source() const { return source_; }

 private:
  friend class Connection;
  std::string source_;
  mutable Mutex mu_;
  mutable std::string sha_ ABSL_GUARDED_BY(mu_);
};

// One connection. Not thread-safe.
class Connection {
 public:
  // Connects, AUTHs and SELECTs. kUnavailable when unreachable.
  static absl::StatusOr<std::unique_ptr<Connection>> Open(const Options& options);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs one command. Error replies become a Status.
  absl::StatusOr<Reply> Command(const std::vector<std::string>& args);
  // Sends all commands, then reads all replies (one round trip). Error
  // replies are returned in place (Reply::kError); only connection failures
  // fail the whole call.
  absl::StatusOr<std::vector<Reply>> Pipeline(
      const std::vector<std::vector<std::string>>& commands);
  // EVALSHA with NOSCRIPT fallback. Error replies become a Status.
  absl::StatusOr<Reply> Eval(const Script& script,
                             const std::vector<std::string>& keys,
                             const std::vector<std::string>& args);

  // For SUBSCRIBE connections: sends a command without reading its reply.
  absl::Status Send(const std::vector<std::string>& args);
  // Waits up to `timeout` for the next reply (e.g. a pub/sub message);
  // nullopt when none arrived in time. The connection stays usable.
  absl::StatusOr<std::optional<Reply>> ReadReply(absl::Duration timeout);

  // True once an I/O or protocol error made the connection unusable.
  bool broken() const;
  const Options& options() const { return options_; }

 private:
  Connection(Options options, redisContext* ctx);
  absl::Status IoError(std::string_view what);
  absl::StatusOr<Reply> ReadOne();

  Options options_;
  redisContext* ctx_;
  bool broken_ = false;
};

// A pool of connections to one server. Thread-safe.
class Client {
 public:
  // Opens one connection to check the server (and credentials) now.
  static absl::StatusOr<std::shared_ptr<Client>> Connect(const Options& options);
  static absl::StatusOr<std::shared_ptr<Client>> Connect(const Url& url);
  explicit Client(Options options) : options_(std::move(options)) {}

  absl::StatusOr<Reply> Command(const std::vector<std::string>& args);
  absl::StatusOr<std::vector<Reply>> Pipeline(
      const std::vector<std::vector<std::string>>& commands);
  absl::StatusOr<Reply> Eval(const Script& script,
                             const std::vector<std::string>& keys,
                             const std::vector<std::string>& args);

  // A connection lent to the caller for several calls in a row (e.g.
  // WATCH/MULTI/EXEC). It returns to the pool on destruction unless broken.
  class Lease {
   public:
    Lease(Client* client, std::unique_ptr<Connection> conn, uint64_t gen)
        : client_(client), conn_(std::move(conn)), generation_(gen) {}
    Lease(Lease&&) = default;
    Lease& operator=(Lease&&) = default;
    ~Lease();
    Connection* operator->() { return conn_.get(); }
    Connection& operator*() { return *conn_; }

   private:
    Client* client_;
    std::unique_ptr<Connection> conn_;
    uint64_t generation_ = 0;
  };
  absl::StatusOr<Lease> Acquire();

  // A dedicated connection outside the pool (e.g. for SUBSCRIBE), honouring
  // the reconnect backoff.
  absl::StatusOr<std::unique_ptr<Connection>> OpenDedicated();

  const Options& options() const { return options_; }

 private:
  void Release(std::unique_ptr<Connection> conn, uint64_t generation);
  template <typename T, typename F>
  absl::StatusOr<T> WithConnection(F&& f);

  const Options options_;
  Mutex mu_;
  std::vector<std::pair<std::unique_ptr<Connection>, uint64_t>> idle_
      ABSL_GUARDED_BY(mu_);
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Duration backoff_ ABSL_GUARDED_BY(mu_) = absl::ZeroDuration();
  absl::Time next_connect_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Status last_connect_error_ ABSL_GUARDED_BY(mu_);
};

}  // namespace popqueue::redis

#endif  // POPQUEUE_COMMON_REDIS_REDIS_CLIENT_H_
