#include "common/redis/redis_client.h"

#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace popqueue::redis {
namespace {

timeval TimevalOf(absl::Duration d) {
  return absl::ToTimeval(std::max(d, absl::Milliseconds(1)));
}

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
  (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval_s,
                   sizeof(interval_s));
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
    default:
      out.type = Reply::Type::kNil;
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

absl::StatusOr<int> ParseQueryInt(const Url& url, const std::string& key,
                                  int fallback, int min) {
  auto it = url.query.find(key);
  if (it == url.query.end()) return fallback;
  int v = 0;
  if (!absl::SimpleAtoi(it->second, &v) || v < min) {
    return absl::InvalidArgumentError(absl::StrCat(
        "redis URL ", url.Redacted(), ": ", key, "=\"", it->second,
        "\" is not an integer >= ", min));
  }
  return v;
}

}  // namespace

absl::StatusOr<Options> Options::FromUrl(const Url& url) {
  if (url.scheme != "redis") {
    return absl::InvalidArgumentError(absl::StrCat(
        "expected a redis:// URL, got \"", url.Redacted(), "\""));
  }
  Options o;
  if (!url.host.empty()) o.host = url.host;
  if (url.port != 0) o.port = url.port;
  o.user = url.user;
  o.password = url.password;
  std::string path = url.path;
  if (!path.empty() && path[0] == '/') path.erase(0, 1);
  if (!path.empty() && (!absl::SimpleAtoi(path, &o.db) || o.db < 0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "redis URL ", url.Redacted(), ": the path must be a database number "
        "(redis://host:port/2), got \"", path, "\""));
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
  return o;
}

std::string Options::Endpoint() const { return absl::StrCat(host, ":", port); }

absl::StatusOr<int64_t> Reply::AsInt() const {
  if (type == Type::kInteger) return integer;
  int64_t v = 0;
  if (type == Type::kString && absl::SimpleAtoi(str, &v)) return v;
  return absl::InternalError(absl::StrCat(
      "expected an integer reply from Redis, got type ", static_cast<int>(type),
      " \"", str.substr(0, 64), "\""));
}

absl::Status ErrorReplyToStatus(std::string_view error_text,
                                std::string_view endpoint) {
  const std::string text(error_text);
  const std::string msg = absl::StrCat("redis ", std::string(endpoint), ": ", text);
  for (const char* p : {"LOADING", "BUSY", "READONLY", "TRYAGAIN",
                        "CLUSTERDOWN", "MASTERDOWN", "MOVED", "ASK"}) {
    if (absl::StartsWith(text, absl::StrCat(p, " "))) {
      return absl::UnavailableError(msg);
    }
  }
  if (absl::StartsWith(text, "NOAUTH") || absl::StartsWith(text, "WRONGPASS") ||
      absl::StartsWith(text, "NOPERM")) {
    return absl::PermissionDeniedError(absl::StrCat(
        msg, " (check the user and password in the redis:// URL)"));
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

absl::StatusOr<std::unique_ptr<Connection>> Connection::Open(
    const Options& options) {
  redisContext* ctx = redisConnectWithTimeout(
      options.host.c_str(), options.port, TimevalOf(options.connect_timeout));
  if (ctx == nullptr) {
    return absl::ResourceExhaustedError(
        "cannot allocate a hiredis context (out of memory)");
  }
  if (ctx->err != 0) {
    std::string why = ctx->errstr;
    redisFree(ctx);
    return absl::UnavailableError(absl::StrCat(
        "cannot connect to Redis at ", options.Endpoint(), ": ", why,
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
            "Redis at ", options.Endpoint(), " refused AUTH: ",
            std::string(r.status().message())));
      }
      return r.status();
    }
  }
  if (options.db != 0) {
    absl::StatusOr<Reply> r =
        conn->Command({"SELECT", absl::StrCat(options.db)});
    if (!r.ok()) return r.status();
  }
  return conn;
}

bool Connection::broken() const { return broken_ || ctx_->err != 0; }

absl::Status Connection::IoError(std::string_view what) {
  broken_ = true;
  std::string why = ctx_->errstr;
  if (ctx_->err == REDIS_ERR_IO &&
      (absl::StrContains(why, "temporarily unavailable") ||
       absl::StrContains(why, "timed out"))) {
    why = absl::StrCat("no reply within ",
                       absl::FormatDuration(options_.command_timeout),
                       " (timeout_ms in the URL)");
  } else if (ctx_->err == REDIS_ERR_EOF) {
    why = "the server closed the connection";
  }
  return absl::UnavailableError(absl::StrCat("Redis at ", options_.Endpoint(),
                                             ": ", std::string(what), ": ", why));
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
  if (broken()) return IoError("connection unusable");
  ArgvView v(args);
  void* raw = redisCommandArgv(ctx_, static_cast<int>(args.size()),
                               v.ptrs.data(), v.lens.data());
  if (raw == nullptr) return IoError("command failed");
  Reply out = Convert(static_cast<redisReply*>(raw));
  freeReplyObject(raw);
  if (out.is_error()) return ErrorReplyToStatus(out.str, options_.Endpoint());
  return out;
}

absl::StatusOr<std::vector<Reply>> Connection::Pipeline(
    const std::vector<std::vector<std::string>>& commands) {
  if (broken()) return IoError("connection unusable");
  for (const std::vector<std::string>& args : commands) {
    ArgvView v(args);
    if (redisAppendCommandArgv(ctx_, static_cast<int>(args.size()),
                               v.ptrs.data(), v.lens.data()) != REDIS_OK) {
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

absl::StatusOr<Reply> Connection::Eval(const Script& script,
                                       const std::vector<std::string>& keys,
                                       const std::vector<std::string>& args) {
  for (int round = 0; round < 2; ++round) {
    std::string sha;
    {
      MutexLock lock(&script.mu_);
      sha = script.sha_;
    }
    if (sha.empty() || round == 1) {
      absl::StatusOr<Reply> loaded = Command({"SCRIPT", "LOAD", script.source_});
      if (!loaded.ok()) return loaded.status();
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
    void* raw = redisCommandArgv(ctx_, static_cast<int>(argv.size()),
                                 v.ptrs.data(), v.lens.data());
    if (raw == nullptr) return IoError("script call failed");
    Reply out = Convert(static_cast<redisReply*>(raw));
    freeReplyObject(raw);
    if (out.is_error() && absl::StartsWith(out.str, "NOSCRIPT") && round == 0) {
      continue;  // the server forgot the script (restart, SCRIPT FLUSH)
    }
    if (out.is_error()) return ErrorReplyToStatus(out.str, options_.Endpoint());
    return out;
  }
  return absl::InternalError("unreachable");
}

absl::Status Connection::Send(const std::vector<std::string>& args) {
  if (broken()) return IoError("connection unusable");
  ArgvView v(args);
  if (redisAppendCommandArgv(ctx_, static_cast<int>(args.size()),
                             v.ptrs.data(), v.lens.data()) != REDIS_OK) {
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

absl::StatusOr<std::optional<Reply>> Connection::ReadReply(
    absl::Duration timeout) {
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
    int n = poll(&pfd, 1,
                 static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      broken_ = true;
      return absl::UnavailableError(absl::StrCat(
          "Redis at ", options_.Endpoint(), ": poll failed: ", strerror(errno)));
    }
    if (n == 0) continue;  // the deadline check above ends the loop
    if (redisBufferRead(ctx_) != REDIS_OK) {
      return IoError("reading failed");
    }
  }
}

// -------------------------------------------------------------------- Client

absl::StatusOr<std::shared_ptr<Client>> Client::Connect(const Options& options) {
  auto client = std::make_shared<Client>(options);
  absl::StatusOr<Lease> lease = client->Acquire();
  if (!lease.ok()) return lease.status();
  absl::StatusOr<Reply> pong = (*lease)->Command({"PING"});
  if (!pong.ok()) return pong.status();
  return client;
}

absl::StatusOr<std::shared_ptr<Client>> Client::Connect(const Url& url) {
  absl::StatusOr<Options> options = Options::FromUrl(url);
  if (!options.ok()) return options.status();
  return Connect(*options);
}

Client::Lease::~Lease() {
  if (client_ != nullptr && conn_ != nullptr) {
    client_->Release(std::move(conn_), generation_);
  }
}

absl::StatusOr<std::unique_ptr<Connection>> Client::OpenDedicated() {
  {
    MutexLock lock(&mu_);
    if (absl::Now() < next_connect_) {
      return absl::UnavailableError(absl::StrCat(
          std::string(last_connect_error_.message()), " (retrying in ",
          absl::FormatDuration(absl::Trunc(next_connect_ - absl::Now(),
                                           absl::Milliseconds(1))),
          ")"));
    }
  }
  absl::StatusOr<std::unique_ptr<Connection>> conn = Connection::Open(options_);
  MutexLock lock(&mu_);
  if (conn.ok()) {
    backoff_ = absl::ZeroDuration();
    next_connect_ = absl::InfinitePast();
  } else if (absl::IsUnavailable(conn.status())) {
    backoff_ = std::clamp(backoff_ * 2, absl::Milliseconds(50), absl::Seconds(2));
    next_connect_ = absl::Now() + backoff_;
    // A copy with a rep of its own: sharing the returned status's rep would
    // make its reference count cross threads through Abseil's compiled
    // Unref, which ThreadSanitizer cannot see (a false report).
    last_connect_error_ =
        absl::Status(conn.status().code(), conn.status().message());
    ++generation_;  // idle connections point at the same unreachable server
  }
  return conn;
}

absl::StatusOr<Client::Lease> Client::Acquire() {
  uint64_t generation = 0;
  {
    MutexLock lock(&mu_);
    while (!idle_.empty()) {
      auto [conn, gen] = std::move(idle_.back());
      idle_.pop_back();
      if (gen == generation_ && !conn->broken()) {
        return Lease(this, std::move(conn), gen);
      }
    }
    generation = generation_;
  }
  absl::StatusOr<std::unique_ptr<Connection>> conn = OpenDedicated();
  if (!conn.ok()) return conn.status();
  return Lease(this, *std::move(conn), generation);
}

void Client::Release(std::unique_ptr<Connection> conn, uint64_t generation) {
  MutexLock lock(&mu_);
  if (conn->broken()) {
    // Probably the server went away: drop the other idle connections too.
    if (generation == generation_) ++generation_;
    return;
  }
  if (generation != generation_ ||
      idle_.size() >= static_cast<size_t>(options_.pool_size)) {
    return;
  }
  idle_.emplace_back(std::move(conn), generation);
}

template <typename T, typename F>
absl::StatusOr<T> Client::WithConnection(F&& f) {
  absl::StatusOr<Lease> lease = Acquire();
  if (!lease.ok()) return lease.status();
  return f(**lease);
}

absl::StatusOr<Reply> Client::Command(const std::vector<std::string>& args) {
  return WithConnection<Reply>([&](Connection& c) { return c.Command(args); });
}

absl::StatusOr<std::vector<Reply>> Client::Pipeline(
    const std::vector<std::vector<std::string>>& commands) {
  return WithConnection<std::vector<Reply>>(
      [&](Connection& c) { return c.Pipeline(commands); });
}

absl::StatusOr<Reply> Client::Eval(const Script& script,
                                   const std::vector<std::string>& keys,
                                   const std::vector<std::string>& args) {
  return WithConnection<Reply>(
      [&](Connection& c) { return c.Eval(script, keys, args); });
}

}  // namespace popqueue::redis
