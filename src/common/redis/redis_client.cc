#include "common/redis/redis_client.h"

#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/errno_text.h"
#include "common/redis/cluster_router.h"
#include "common/redis/node_pool.h"
#include "common/redis/redis_no_tls.h"

namespace popqueue::redis {
namespace {

// wait=N: WAIT gets at least this long, even when the write used up the
// call's deadline, and its socket this much more than WAIT's own timeout
// (a WAIT that times out is read, not cut off).
constexpr absl::Duration kMinWait = absl::Milliseconds(10);
constexpr absl::Duration kWaitReadSlack = absl::Milliseconds(250);

// Commands that change no data (IsReadOnlyCommand), upper case.
constexpr std::string_view kReadOnlyCommands[] = {
    "ASKING",   "CLIENT",   "CLUSTER", "COMMAND",     "CONFIG",        "DBSIZE", "ECHO",
    "EXISTS",   "GET",      "HEXISTS", "HGET",        "HGETALL",       "HKEYS",  "HLEN",
    "HMGET",    "HVALS",    "INFO",    "KEYS",        "LLEN",          "LRANGE", "MGET",
    "OBJECT",   "PING",     "PTTL",    "PUBLISH",     "SCAN",          "SCARD",  "SISMEMBER",
    "SMEMBERS", "SPUBLISH", "STRLEN",  "TIME",        "TTL",           "TYPE",   "WAIT",
    "ZCARD",    "ZCOUNT",   "ZRANGE",  "ZRANGEBYLEX", "ZRANGEBYSCORE", "ZRANK",  "ZREVRANGE",
    "ZSCORE"};

timeval TimevalOf(absl::Duration d) { return absl::ToTimeval(std::max(d, absl::Milliseconds(1))); }

// What redisEnableKeepAliveWithInterval does in hiredis >= 1.0 (Debian 12
// ships 0.14, whose redisEnableKeepAlive fixes 15 s): a dead peer is found
// after idle + 3 probes `idle / 3` apart. Best effort, like hiredis.
void EnableKeepAlive(int fd, absl::Duration idle) {
  int on = 1;
  int idle_s = static_cast<int>(std::max<int64_t>(1, absl::ToInt64Seconds(idle)));
  int interval_s = std::max(1, idle_s / 3);
  int count = 3;
  (void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
  (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle_s, sizeof(idle_s));
  (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval_s, sizeof(interval_s));
  (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof(count));
}

Reply Convert(const redisReply* r) {
  Reply out;
  switch (r->type) {
    case REDIS_REPLY_STRING:
      out.type = Reply::Type::kString;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = Reply::Type::kStatus;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = Reply::Type::kError;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = Reply::Type::kInteger;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = Reply::Type::kArray;
      out.elements.reserve(r->elements);
      for (size_t i = 0; i < r->elements; ++i) {
        out.elements.push_back(Convert(r->element[i]));
      }
      break;
    default: out.type = Reply::Type::kNil;
  }
  return out;
}

struct ArgvView {
  std::vector<const char*> ptrs;
  std::vector<size_t> lens;
  explicit ArgvView(const std::vector<std::string>& args) {
    ptrs.reserve(args.size());
    lens.reserve(args.size());
    for (const std::string& a : args) {
      ptrs.push_back(a.data());
      lens.push_back(a.size());
    }
  }
};

absl::StatusOr<int> ParseQueryInt(const Url& url, const std::string& key, int fallback, int min) {
  auto it = url.query.find(key);
  if (it == url.query.end()) return fallback;
  int v = 0;
  if (!absl::SimpleAtoi(it->second, &v) || v < min) {
    return absl::InvalidArgumentError(absl::StrCat("redis URL ", url.Redacted(), ": ", key, "=\"",
                                                   it->second, "\" is not an integer >= ", min));
  }
  return v;
}

}  // namespace

absl::StatusOr<Options> Options::FromUrl(const Url& url) {
  if (url.scheme == "rediss") return absl::InvalidArgumentError(kNoTlsMessage);
  if (url.scheme != "redis" && url.scheme != "redis+cluster") {
    return absl::InvalidArgumentError(
        absl::StrCat("expected a redis:// or redis+cluster:// URL, got \"", url.Redacted(), "\""));
  }
  Options o;
  if (!url.host.empty()) o.host = url.host;
  if (url.port != 0) o.port = url.port;
  o.user = url.user;
  o.password = url.password;
  o.cluster = url.scheme == "redis+cluster";
  if (auto it = url.query.find("cluster"); it != url.query.end()) {
    if (it->second == "1" || it->second == "true") {
      o.cluster = true;
    } else if (it->second != "0" && it->second != "false") {
      return absl::InvalidArgumentError(absl::StrCat("redis URL ", url.Redacted(), ": cluster=\"",
                                                     it->second,
                                                     "\" must be 1 or 0 (true or false)"));
    }
  }
  if (url.hosts.size() > 1 && !o.cluster) {
    return absl::InvalidArgumentError(
        absl::StrCat("redis URL ", url.Redacted(),
                     ": several hosts name a Redis Cluster's "
                     "seed nodes: add ?cluster=1 or write redis+cluster://"));
  }
  for (const UrlHost& h : url.hosts) {
    o.seeds.push_back(
        {.host = h.host.empty() ? "127.0.0.1" : h.host, .port = h.port == 0 ? 6379 : h.port});
  }
  std::string path = url.path;
  if (!path.empty() && path[0] == '/') path.erase(0, 1);
  if (!path.empty() && (!absl::SimpleAtoi(path, &o.db) || o.db < 0)) {
    return absl::InvalidArgumentError(absl::StrCat("redis URL ", url.Redacted(),
                                                   ": the path must be a database number "
                                                   "(redis://host:port/2), got \"",
                                                   path, "\""));
  }
  if (o.cluster && o.db != 0) {
    return absl::InvalidArgumentError(absl::StrCat("redis URL ", url.Redacted(),
                                                   ": a Redis Cluster has only database 0, "
                                                   "got /",
                                                   o.db));
  }
  absl::StatusOr<int> v = ParseQueryInt(url, "connect_timeout_ms", 2000, 1);
  if (!v.ok()) return v.status();
  o.connect_timeout = absl::Milliseconds(*v);
  v = ParseQueryInt(url, "timeout_ms", 5000, 1);
  if (!v.ok()) return v.status();
  o.command_timeout = absl::Milliseconds(*v);
  v = ParseQueryInt(url, "keepalive_s", 15, 1);
  if (!v.ok()) return v.status();
  o.keepalive = absl::Seconds(*v);
  v = ParseQueryInt(url, "pool_size", 8, 1);
  if (!v.ok()) return v.status();
  o.pool_size = *v;
  v = ParseQueryInt(url, "wait", 0, 0);
  if (!v.ok()) return v.status();
  o.wait_replicas = *v;
  return o;
}

std::string Options::Endpoint() const {
  if (!cluster) return absl::StrCat(host, ":", port);
  std::vector<std::string> nodes;
  for (const NodeAddress& n : seeds) nodes.push_back(n.Endpoint());
  return absl::StrCat("Redis Cluster ", absl::StrJoin(nodes, ","));
}

absl::StatusOr<int64_t> Reply::AsInt() const {
  if (type == Type::kInteger) return integer;
  int64_t v = 0;
  if (type == Type::kString && absl::SimpleAtoi(str, &v)) return v;
  return absl::InternalError(absl::StrCat("expected an integer reply from Redis, got type ",
                                          static_cast<int>(type), " \"", str.substr(0, 64), "\""));
}

bool IsReadOnlyCommand(const std::vector<std::string>& args) {
  if (args.empty()) return true;
  const std::string name = absl::AsciiStrToUpper(args[0]);
  for (std::string_view read : kReadOnlyCommands) {
    if (name == read) return true;
  }
  return false;
}

absl::Status ErrorReplyToStatus(std::string_view error_text, std::string_view endpoint) {
  const std::string text(error_text);
  const std::string msg = absl::StrCat("redis ", std::string(endpoint), ": ", text);
  if (ParseRedirect(text)) {
    return absl::FailedPreconditionError(
        absl::StrCat(msg,
                     " (the server is a Redis Cluster node: add ?cluster=1 to the "
                     "URL or write redis+cluster://)"));
  }
  for (const char* p : {"LOADING", "BUSY", "READONLY", "TRYAGAIN", "CLUSTERDOWN", "MASTERDOWN"}) {
    if (absl::StartsWith(text, absl::StrCat(p, " "))) {
      return absl::UnavailableError(msg);
    }
  }
  if (absl::StartsWith(text, "NOAUTH") || absl::StartsWith(text, "WRONGPASS") ||
      absl::StartsWith(text, "NOPERM")) {
    return absl::PermissionDeniedError(
        absl::StrCat(msg, " (check the user and password in the redis:// URL)"));
  }
  if (absl::StartsWith(text, "OOM")) return absl::ResourceExhaustedError(msg);
  return absl::InternalError(msg);
}

// ---------------------------------------------------------------- Connection

Connection::Connection(Options options, redisContext* ctx)
    : options_(std::move(options)), ctx_(ctx) {}

Connection::~Connection() {
  if (ctx_ != nullptr) redisFree(ctx_);
}

absl::StatusOr<std::unique_ptr<Connection>> Connection::Open(const Options& options) {
  redisContext* ctx = redisConnectWithTimeout(options.host.c_str(), options.port,
                                              TimevalOf(options.connect_timeout));
  if (ctx == nullptr) {
    return absl::ResourceExhaustedError("cannot allocate a hiredis context (out of memory)");
  }
  if (ctx->err != 0) {
    std::string why = ctx->errstr;
    redisFree(ctx);
    return absl::UnavailableError(absl::StrCat("cannot connect to Redis at ", options.Endpoint(),
                                               ": ", why,
                                               " (is redis-server running and reachable?)"));
  }
  redisSetTimeout(ctx, TimevalOf(options.command_timeout));
  EnableKeepAlive(ctx->fd, options.keepalive);
  std::unique_ptr<Connection> conn(new Connection(options, ctx));
  if (!options.password.empty()) {
    std::vector<std::string> auth = {"AUTH"};
    if (!options.user.empty()) auth.push_back(options.user);
    auth.push_back(options.password);
    absl::StatusOr<Reply> r = conn->Command(auth);
    if (!r.ok()) {
      if (absl::IsInternal(r.status())) {  // e.g. "ERR invalid password"
        return absl::PermissionDeniedError(absl::StrCat(
            "Redis at ", options.Endpoint(), " refused AUTH: ", std::string(r.status().message())));
      }
      return r.status();
    }
  }
  if (options.db != 0) {
    absl::StatusOr<Reply> r = conn->Command({"SELECT", absl::StrCat(options.db)});
    if (!r.ok()) return r.status();
  }
  return conn;
}

bool Connection::broken() const { return broken_ || ctx_->err != 0; }

absl::Status Connection::IoError(std::string_view what) {
  broken_ = true;
  std::string why = ctx_->errstr;
  if (ctx_->err == REDIS_ERR_IO &&
      (absl::StrContains(why, "temporarily unavailable") || absl::StrContains(why, "timed out"))) {
    why = absl::StrCat("no reply within ", absl::FormatDuration(options_.command_timeout),
                       " (timeout_ms in the URL)");
  } else if (ctx_->err == REDIS_ERR_EOF) {
    why = "the server closed the connection";
  }
  return absl::UnavailableError(
      absl::StrCat("Redis at ", options_.Endpoint(), ": ", std::string(what), ": ", why));
}

absl::StatusOr<Reply> Connection::ReadOne() {
  void* raw = nullptr;
  if (redisGetReply(ctx_, &raw) != REDIS_OK || raw == nullptr) {
    return IoError("reading a reply failed");
  }
  Reply out = Convert(static_cast<redisReply*>(raw));
  freeReplyObject(raw);
  return out;
}

absl::StatusOr<Reply> Connection::Command(const std::vector<std::string>& args) {
  absl::StatusOr<Reply> r = Call(args);
  if (r.ok() && r->is_error()) {
    return ErrorReplyToStatus(r->str, options_.Endpoint());
  }
  return r;
}

void Connection::SetCommandTimeout(absl::Duration timeout) {
  redisSetTimeout(ctx_, TimevalOf(timeout));
}

absl::Status Connection::WaitForReplicas(absl::Time deadline) {
  const int n = options_.wait_replicas;
  if (n <= 0) return absl::OkStatus();
  const absl::Duration wait = std::max(deadline - absl::Now(), kMinWait);
  const int64_t ms = absl::ToInt64Milliseconds(wait);  // >= 10: never 0 (forever)
  SetCommandTimeout(absl::Milliseconds(ms) + kWaitReadSlack);
  absl::StatusOr<Reply> r = Call({"WAIT", absl::StrCat(n), absl::StrCat(ms)});
  SetCommandTimeout(options_.command_timeout);
  if (!r.ok()) return r.status();
  if (r->is_error()) return ErrorReplyToStatus(r->str, options_.Endpoint());
  absl::StatusOr<int64_t> acked = r->AsInt();
  if (!acked.ok()) return acked.status();
  if (*acked >= n) return absl::OkStatus();
  return absl::UnavailableError(absl::StrCat(
      "redis ", options_.Endpoint(), ": ", *acked, " of the ", n, " replicas that wait=", n,
      " asks for acknowledged the write within ", ms, " ms (WAIT ", n, " ", ms,
      "); it is applied on this master and may "
      "or may not survive a failover"));
}

absl::StatusOr<Reply> Connection::Call(const std::vector<std::string>& args) {
  if (broken()) return IoError("connection unusable");
  ArgvView v(args);
  void* raw = redisCommandArgv(ctx_, static_cast<int>(args.size()), v.ptrs.data(), v.lens.data());
  if (raw == nullptr) return IoError("command failed");
  Reply out = Convert(static_cast<redisReply*>(raw));
  freeReplyObject(raw);
  return out;
}

absl::StatusOr<std::vector<Reply>> Connection::Pipeline(
    const std::vector<std::vector<std::string>>& commands) {
  if (broken()) return IoError("connection unusable");
  for (const std::vector<std::string>& args : commands) {
    ArgvView v(args);
    if (redisAppendCommandArgv(ctx_, static_cast<int>(args.size()), v.ptrs.data(), v.lens.data()) !=
        REDIS_OK) {
      return IoError("queueing a command failed");
    }
  }
  std::vector<Reply> out;
  out.reserve(commands.size());
  for (size_t i = 0; i < commands.size(); ++i) {
    absl::StatusOr<Reply> r = ReadOne();
    if (!r.ok()) return r.status();
    out.push_back(*std::move(r));
  }
  return out;
}

absl::StatusOr<Reply> Connection::Eval(const Script& script, const std::vector<std::string>& keys,
                                       const std::vector<std::string>& args) {
  absl::StatusOr<Reply> r = EvalCall(script, keys, args);
  if (r.ok() && r->is_error()) {
    return ErrorReplyToStatus(r->str, options_.Endpoint());
  }
  return r;
}

absl::StatusOr<Reply> Connection::EvalCall(const Script& script,
                                           const std::vector<std::string>& keys,
                                           const std::vector<std::string>& args) {
  for (int round = 0; round < 2; ++round) {
    std::string sha;
    {
      MutexLock lock(&script.mu_);
      sha = script.sha_;
    }
    if (sha.empty() || round == 1) {
      absl::StatusOr<Reply> loaded = Call({"SCRIPT", "LOAD", script.source_});
      if (!loaded.ok() || loaded->is_error()) return loaded;
      sha = loaded->str;
      MutexLock lock(&script.mu_);
      script.sha_ = sha;
    }
    std::vector<std::string> argv;
    argv.reserve(3 + keys.size() + args.size());
    argv.push_back("EVALSHA");
    argv.push_back(sha);
    argv.push_back(absl::StrCat(keys.size()));
    argv.insert(argv.end(), keys.begin(), keys.end());
    argv.insert(argv.end(), args.begin(), args.end());
    ArgvView v(argv);
    void* raw = redisCommandArgv(ctx_, static_cast<int>(argv.size()), v.ptrs.data(), v.lens.data());
    if (raw == nullptr) return IoError("script call failed");
    Reply out = Convert(static_cast<redisReply*>(raw));
    freeReplyObject(raw);
    if (out.is_error() && absl::StartsWith(out.str, "NOSCRIPT") && round == 0) {
      continue;  // the server (or this node) does not know the script yet
    }
    return out;
  }
  return absl::InternalError("unreachable");
}

absl::Status Connection::Send(const std::vector<std::string>& args) {
  if (broken()) return IoError("connection unusable");
  ArgvView v(args);
  if (redisAppendCommandArgv(ctx_, static_cast<int>(args.size()), v.ptrs.data(), v.lens.data()) !=
      REDIS_OK) {
    return IoError("queueing a command failed");
  }
  int done = 0;
  while (done == 0) {
    if (redisBufferWrite(ctx_, &done) != REDIS_OK) {
      return IoError("sending a command failed");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<Reply>> Connection::ReadReply(absl::Duration timeout) {
  if (broken()) return IoError("connection unusable");
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    void* raw = nullptr;
    if (redisGetReplyFromReader(ctx_, &raw) != REDIS_OK) {
      return IoError("reading a reply failed");
    }
    if (raw != nullptr) {
      Reply out = Convert(static_cast<redisReply*>(raw));
      freeReplyObject(raw);
      return std::optional<Reply>(std::move(out));
    }
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return std::optional<Reply>();
    pollfd pfd{.fd = ctx_->fd, .events = POLLIN, .revents = 0};
    int n = poll(&pfd, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      broken_ = true;
      return absl::UnavailableError(
          absl::StrCat("Redis at ", options_.Endpoint(), ": poll failed: ", ErrnoText(errno)));
    }
    if (n == 0) continue;  // the deadline check above ends the loop
    if (redisBufferRead(ctx_) != REDIS_OK) {
      return IoError("reading failed");
    }
  }
}

// -------------------------------------------------------------------- Client

Client::Client(Options options) : options_(std::move(options)) {
  if (options_.cluster) {
    router_ = std::make_unique<ClusterRouter>(options_);
  } else {
    single_ = std::make_shared<NodePool>(options_);
  }
}

Client::~Client() = default;

absl::StatusOr<std::shared_ptr<Client>> Client::Connect(const Options& options) {
  auto client = std::make_shared<Client>(options);
  if (client->router_ != nullptr) {
    if (absl::Status s = client->router_->Refresh(); !s.ok()) return s;
  }
  absl::StatusOr<Reply> pong = client->Command({"PING"});
  if (!pong.ok()) return pong.status();
  return client;
}

absl::StatusOr<std::shared_ptr<Client>> Client::Connect(const Url& url) {
  absl::StatusOr<Options> options = Options::FromUrl(url);
  if (!options.ok()) return options.status();
  return Connect(*options);
}

absl::StatusOr<std::unique_ptr<Connection>> Client::OpenDedicated() {
  return router_ != nullptr ? router_->OpenAny() : single_->OpenDedicated();
}

absl::StatusOr<Reply> Client::Command(const std::vector<std::string>& args) {
  const bool wait = options_.wait_replicas > 0 && !IsReadOnlyCommand(args);
  const absl::Time deadline =
      wait ? absl::Now() + options_.command_timeout : absl::InfiniteFuture();
  if (router_ == nullptr) {
    absl::StatusOr<NodePool::Lease> lease = single_->Acquire();
    if (!lease.ok()) return lease.status();
    return Acknowledged(**lease, (*lease)->Command(args), wait, deadline);
  }
  if (IsPerNodeCommand(args)) {
    return absl::InvalidArgumentError(
        absl::StrCat(args[0],
                     " is per node on a Redis Cluster: use CommandOnEveryMaster "
                     "or ScanKeys"));
  }
  std::optional<size_t> key = FirstKeyIndex(args);
  return router_->Run(key ? std::optional<int>(KeySlot(args[*key])) : std::nullopt,
                      [&](Connection& c) { return Acknowledged(c, c.Call(args), wait, deadline); });
}

absl::StatusOr<std::vector<Reply>> Client::Pipeline(
    const std::vector<std::vector<std::string>>& commands) {
  const bool wait = options_.wait_replicas > 0 &&
                    !std::all_of(commands.begin(), commands.end(), IsReadOnlyCommand);
  if (router_ != nullptr) return router_->Pipeline(commands, wait);
  const absl::Time deadline =
      wait ? absl::Now() + options_.command_timeout : absl::InfiniteFuture();
  absl::StatusOr<NodePool::Lease> lease = single_->Acquire();
  if (!lease.ok()) return lease.status();
  absl::StatusOr<std::vector<Reply>> r = (*lease)->Pipeline(commands);
  if (!r.ok() || !wait) return r;
  if (absl::Status s = (*lease)->WaitForReplicas(deadline); !s.ok()) return s;
  return r;
}

absl::StatusOr<std::vector<Reply>> Client::PipelineOrError(
    const std::vector<std::vector<std::string>>& commands) {
  absl::StatusOr<std::vector<Reply>> r = Pipeline(commands);
  if (!r.ok()) return r;
  for (const Reply& reply : *r) {
    if (reply.is_error()) {
      return ErrorReplyToStatus(reply.str, options_.Endpoint());
    }
  }
  return r;
}

absl::StatusOr<Reply> Client::Eval(const Script& script, const std::vector<std::string>& keys,
                                   const std::vector<std::string>& args) {
  const bool wait = options_.wait_replicas > 0 && script.writes();
  const absl::Time deadline =
      wait ? absl::Now() + options_.command_timeout : absl::InfiniteFuture();
  if (router_ == nullptr) {
    absl::StatusOr<NodePool::Lease> lease = single_->Acquire();
    if (!lease.ok()) return lease.status();
    return Acknowledged(**lease, (*lease)->Eval(script, keys, args), wait, deadline);
  }
  return router_->Run(
      keys.empty() ? std::nullopt : std::optional<int>(KeySlot(keys[0])),
      [&](Connection& c) {
        return Acknowledged(c, c.EvalCall(script, keys, args), wait, deadline);
      },
      /*script=*/true);
}

absl::StatusOr<std::vector<Reply>> Client::CommandOnEveryMaster(
    const std::vector<std::string>& args) {
  absl::StatusOr<std::vector<std::shared_ptr<NodePool>>> nodes =
      router_ != nullptr ? router_->Masters() : std::vector<std::shared_ptr<NodePool>>{single_};
  if (!nodes.ok()) return nodes.status();
  std::vector<Reply> out;
  for (const std::shared_ptr<NodePool>& node : *nodes) {
    absl::StatusOr<NodePool::Lease> lease = node->Acquire();
    if (!lease.ok()) return lease.status();
    absl::StatusOr<Reply> r = (*lease)->Command(args);
    if (!r.ok()) return r.status();
    out.push_back(*std::move(r));
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> Client::ScanKeys(const std::string& pattern) {
  absl::StatusOr<std::vector<std::shared_ptr<NodePool>>> nodes =
      router_ != nullptr ? router_->Masters() : std::vector<std::shared_ptr<NodePool>>{single_};
  if (!nodes.ok()) return nodes.status();
  std::vector<std::string> keys;
  for (const std::shared_ptr<NodePool>& node : *nodes) {
    absl::StatusOr<NodePool::Lease> lease = node->Acquire();
    if (!lease.ok()) return lease.status();
    std::string cursor = "0";
    do {
      absl::StatusOr<Reply> r =
          (*lease)->Command({"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"});
      if (!r.ok()) return r.status();
      if (r->elements.size() != 2) {
        return absl::InternalError(
            absl::StrCat("redis ", node->options().Endpoint(), ": malformed SCAN reply"));
      }
      cursor = r->elements[0].str;
      for (const Reply& k : r->elements[1].elements) keys.push_back(k.str);
    } while (cursor != "0");
  }
  return keys;
}

}  // namespace popqueue::redis
