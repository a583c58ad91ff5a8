// A small, synchronous Redis client over hiredis, shared by the Redis job
// store (src/store/redis) and the Redis coordinator (src/coord/redis). It
// talks to one server or to a Redis Cluster; callers do not need to know
// which (see "Redis Cluster" below).
//
//   auto client = redis::Client::Connect(*ParseUrl("redis://:pw@host:6379/2"));
//   absl::StatusOr<redis::Reply> r = (*client)->Command({"GET", key});
//   redis::Script claim(source);
//   r = (*client)->Eval(claim, {key1, key2}, {arg1, arg2});
//
// - URLs: redis://[[user]:password@]host[:port][/db][?connect_timeout_ms=N&
//   timeout_ms=N&keepalive_s=N&pool_size=N&wait=N]. AUTH (with user for
//   Redis 6 ACLs) and SELECT run on every new connection.
// - Redis Cluster URLs: redis://h1:7000,h2:7001/?cluster=1 or
//   redis+cluster://h1:7000,h2:7001 (several seed nodes, any of which may be
//   down; a database number other than 0 is refused, Cluster has only db 0).
//   Several hosts without cluster mode are refused.
// - Timeouts: connects give up after connect_timeout_ms (2000), commands
//   (and AUTH, SELECT, SUBSCRIBE's send) after timeout_ms (5000). Every
//   connection has TCP keepalives (keepalive_s, 15: probes after 15 s idle,
//   every 5 s, 3 unanswered = dead), which is what ends a pub/sub connection
//   that idles legitimately when the server host or the network dies.
// - Every value travels as a bound argument (redisCommandArgv): no command is
//   ever formatted from values.
// - Errors: the server cannot be reached, a connection breaks or a command
//   times out -> kUnavailable naming host:port (never the password); AUTH
//   refused -> kPermissionDenied; LOADING/BUSY/READONLY/TRYAGAIN/CLUSTERDOWN
//   -> kUnavailable; MOVED/ASK on a single-node URL -> kFailedPrecondition
//   (the server is a cluster node: use a cluster URL); OOM ->
//   kResourceExhausted; other error replies -> kInternal with the server's
//   text. A call that failed with kUnavailable may or may not have run on
//   the server (the reply was lost).
// - wait=N (default 0): every call that may write (a Script not marked
//   kReadOnly, a Command or Pipeline holding a command outside the read-only
//   list in redis_client.cc) is followed, on the same connection, by
//   WAIT N <ms left of timeout_ms> before its reply is handed back. Fewer
//   than N replicas in time -> kUnavailable saying how many acknowledged
//   (the write stays applied on the master: it may survive or be lost in a
//   failover). WAIT is not consensus; docs/redis-store.md says what it buys.
//   CommandOnEveryMaster, ScanKeys and dedicated connections never wait.
// - Reconnects: per server, by NodePool (node_pool.h): broken connections
//   are dropped, failed connects back off (50 ms doubling to 2 s).
//
// Redis Cluster
// -------------
// With a cluster URL, Command, Pipeline and Eval go to the master of the
// slot of their first key (Eval: keys[0]), following MOVED and ASK and
// riding out failovers and migrations within timeout_ms; keyless commands
// (PING, PUBLISH) go to any master. cluster_router.h says how. A pipeline's
// keys must share one slot, as must a script's. Commands whose answer is
// per node (SCAN, KEYS, DBSIZE, FLUSH*, SCRIPT) are refused by Command:
// use CommandOnEveryMaster or ScanKeys, which work on both kinds.
// OpenDedicated connects to any reachable master (cluster pub/sub reaches
// every node).
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
#include "common/redis/slot_map.h"
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
  int pool_size = 8;                             // idle connections kept; more may be open briefly
  bool cluster = false;                          // a Redis Cluster (host:port is then seeds[0])
  int wait_replicas = 0;                         // wait=N: WAIT N after every write (see above)
  std::vector<NodeAddress> seeds;                // cluster: the URL's hosts, in order

  // From a parsed redis:// URL (see the file comment). InvalidArgument for
  // other schemes, a bad db path or bad query values.
  static absl::StatusOr<Options> FromUrl(const Url& url);
  // "host:port" (cluster: "Redis Cluster h1:p1,h2:p2"), for messages.
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

// True when `args` (a command) changes no data, so wait=N need not WAIT
// after it (reads, PUBLISH, PING, CLUSTER ...). Unknown commands count as
// writes.
bool IsReadOnlyCommand(const std::vector<std::string>& args);

// Maps an error reply to a Status (see the file comment); `endpoint` names
// the server in the message.
absl::Status ErrorReplyToStatus(std::string_view error_text, std::string_view endpoint);

// A Lua script run with EVALSHA. Its SHA1 is learnt from SCRIPT LOAD on
// first use; a NOSCRIPT reply (server restarted or SCRIPT FLUSH) loads it
// again and retries once.
class Script {
 public:
  // kReadOnly: the script never writes, so wait=N does not WAIT after it.
  enum class Access { kReadWrite, kReadOnly };
  explicit Script(std::string source, Access access = Access::kReadWrite)
      : source_(std::move(source)), access_(access) {}
  const std::string& source() const { return source_; }
  bool writes() const { return access_ == Access::kReadWrite; }

 private:
  friend class Connection;
  std::string source_;
  Access access_;
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
  // Runs one command; error replies are returned in place (Reply::kError).
  absl::StatusOr<Reply> Call(const std::vector<std::string>& args);
  // Sends all commands, then reads all replies (one round trip). Error
  // replies are returned in place (Reply::kError); only connection failures
  // fail the whole call.
  absl::StatusOr<std::vector<Reply>> Pipeline(
      const std::vector<std::vector<std::string>>& commands);
  // EVALSHA with NOSCRIPT fallback. Error replies become a Status.
  absl::StatusOr<Reply> Eval(const Script& script, const std::vector<std::string>& keys,
                             const std::vector<std::string>& args);
  // The same with error replies returned in place.
  absl::StatusOr<Reply> EvalCall(const Script& script, const std::vector<std::string>& keys,
                                 const std::vector<std::string>& args);
  // The socket timeout of the calls that follow (options().command_timeout
  // until changed).
  void SetCommandTimeout(absl::Duration timeout);
  // wait=N: WAIT for options().wait_replicas replicas to hold this
  // connection's writes, until `deadline` (but at least 10 ms), then sets
  // the socket timeout back to command_timeout. OK when N is 0 or enough
  // replicas acknowledged; kUnavailable saying how many did otherwise.
  absl::Status WaitForReplicas(absl::Time deadline);

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

class NodePool;
class ClusterRouter;

// The client: a pool of connections to one server, or a router over the
// masters of a cluster (Options::cluster). Thread-safe.
class Client {
 public:
  // Checks the server (and credentials) now; cluster: loads the slot map.
  static absl::StatusOr<std::shared_ptr<Client>> Connect(const Options& options);
  static absl::StatusOr<std::shared_ptr<Client>> Connect(const Url& url);
  // No I/O: the first call connects.
  explicit Client(Options options);
  ~Client();

  absl::StatusOr<Reply> Command(const std::vector<std::string>& args);
  // One round trip (cluster: to the master of the commands' one slot).
  // Error replies are returned in place.
  absl::StatusOr<std::vector<Reply>> Pipeline(
      const std::vector<std::vector<std::string>>& commands);
  // Pipeline, but the first error reply fails the call (naming the node).
  absl::StatusOr<std::vector<Reply>> PipelineOrError(
      const std::vector<std::vector<std::string>>& commands);
  absl::StatusOr<Reply> Eval(const Script& script, const std::vector<std::string>& keys,
                             const std::vector<std::string>& args);

  // `args` on the server, or on every master of a cluster; the first error
  // fails the call.
  absl::StatusOr<std::vector<Reply>> CommandOnEveryMaster(const std::vector<std::string>& args);
  // Every key matching `pattern` (SCAN MATCH), over every master.
  absl::StatusOr<std::vector<std::string>> ScanKeys(const std::string& pattern);

  // A dedicated connection outside the pools (e.g. for SUBSCRIBE), honouring
  // the reconnect backoff: to the server, or to any reachable master.
  absl::StatusOr<std::unique_ptr<Connection>> OpenDedicated();

  bool cluster() const { return options_.cluster; }
  const Options& options() const { return options_; }

 private:
  const Options options_;
  std::shared_ptr<NodePool> single_;       // !cluster
  std::unique_ptr<ClusterRouter> router_;  // cluster
};

}  // namespace popqueue::redis

#endif  // POPQUEUE_COMMON_REDIS_REDIS_CLIENT_H_
