// A thin RAII layer over the MongoDB C driver (libmongoc/libbson), and nothing
// more: owned BSON documents with a small builder, typed field readers, the
// client pool, pooled-client leases, collections and cursors, and the mapping
// of driver errors to absl::Status. Private to src/store/mongodb.
#ifndef POPQUEUE_STORE_MONGODB_MONGO_CLIENT_H_
#define POPQUEUE_STORE_MONGODB_MONGO_CLIENT_H_

#include <mongoc/mongoc.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace popqueue::store::mongodb {

// Initializes libmongoc and routes its log to popqueue's (once per process;
// thread-safe). Pool::Open calls it.
void InitDriver();

// Server error codes the store reacts to.
inline constexpr int kDuplicateKey = 11000;

struct BsonDeleter {
  void operator()(bson_t* b) const { bson_destroy(b); }
};
using BsonPtr = std::unique_ptr<bson_t, BsonDeleter>;

// An owned BSON document built field by field. Every value is appended with
// its type (the BSON counterpart of a bound parameter); keys are literals.
class Doc {
 public:
  Doc() : b_(bson_new()) {}
  // Takes ownership of a heap document (bson_new, BCON_NEW, bson_copy).
  explicit Doc(bson_t* adopted) : b_(adopted) {}

  Doc& Int64(std::string_view key, int64_t v);
  Doc& Int32(std::string_view key, int32_t v);
  Doc& Str(std::string_view key, std::string_view v);
  Doc& Bool(std::string_view key, bool v);
  Doc& Null(std::string_view key);
  // Times are stored as int64 microseconds since the Unix epoch.
  Doc& Time(std::string_view key, absl::Time t);
  Doc& Sub(std::string_view key, const Doc& sub);
  Doc& Int64Array(std::string_view key, const std::vector<int64_t>& v);
  Doc& StrArray(std::string_view key, const std::vector<std::string>& v);
  // An array of sub-documents (e.g. $or clauses).
  Doc& DocArray(std::string_view key, const std::vector<Doc>& v);

  const bson_t* get() const { return b_.get(); }
  bson_t* get() { return b_.get(); }
  std::string ToJson() const;  // canonical extended JSON, for messages

 private:
  BsonPtr b_;
};

// A document the driver fills in (replies). It starts as an empty inline
// document, which the driver may re-initialize without leaking, so it is
// valid to destroy whether or not the driver call initialized it.
class Reply {
 public:
  Reply() { bson_init(&b_); }
  ~Reply() { bson_destroy(&b_); }
  Reply(const Reply&) = delete;
  Reply& operator=(const Reply&) = delete;
  // For driver calls that initialize the reply themselves.
  bson_t* out() { return &b_; }
  const bson_t* get() const { return &b_; }

 private:
  bson_t b_;
};

// Typed readers of a document's top-level fields. Numbers of any BSON numeric
// type are accepted (servers may narrow int64 to int32).
std::optional<int64_t> GetInt64(const bson_t* doc, const char* key);
std::optional<std::string> GetStr(const bson_t* doc, const char* key);
bool GetBool(const bson_t* doc, const char* key);
std::optional<absl::Time> GetTime(const bson_t* doc, const char* key);
// `t` as a stored time reads back (whole microseconds: Doc::Time truncates).
// A value compared with what GetTime reads must go through this first.
absl::Time AsStored(absl::Time t);
int64_t IterInt64(const bson_iter_t* it);
std::string IterStr(const bson_iter_t* it);

class Pool;

// One open cursor; Next() returns nullptr at the end.
class Cursor {
 public:
  Cursor(mongoc_cursor_t* c, const Pool* pool) : c_(c), pool_(pool) {}
  ~Cursor() { mongoc_cursor_destroy(c_); }
  Cursor(const Cursor&) = delete;
  Cursor& operator=(const Cursor&) = delete;
  // The next document (valid until the next call), nullptr at the end.
  absl::StatusOr<const bson_t*> Next();

 private:
  mongoc_cursor_t* c_;
  const Pool* pool_;
};

// The shared client pool (thread-safe). Each call leases a client for its
// duration; collections are cheap handles made per call.
class Pool {
 public:
  // Parses the mongodb:// URL with the driver. Defaults applied unless the
  // URL sets them: serverSelectionTimeoutMS=2000, connectTimeoutMS=2000,
  // socketTimeoutMS=60000, appname=popqueue.
  static absl::StatusOr<std::unique_ptr<Pool>> Open(const std::string& url);
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // A client taken from the pool for the duration of one store call.
  class Lease {
   public:
    explicit Lease(Pool* pool) : pool_(pool), client_(mongoc_client_pool_pop(pool->pool_)) {}
    ~Lease() { mongoc_client_pool_push(pool_->pool_, client_); }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    mongoc_client_t* client() const { return client_; }

   private:
    Pool* pool_;
    mongoc_client_t* client_;
  };

  // "host:port[,host:port...]": names the server in messages, never with the
  // password.
  const std::string& hosts() const { return hosts_; }

  // Maps a driver error: no reachable server, socket and shutdown errors ->
  // kUnavailable (naming the hosts); duplicate key -> kAlreadyExists; bad
  // credentials -> kUnauthenticated; anything else -> kInternal with the
  // server's message. `what` names the operation.
  absl::Status ErrorStatus(const bson_error_t& error, std::string_view what) const;

 private:
  Pool() = default;
  mongoc_uri_t* uri_ = nullptr;
  mongoc_client_pool_t* pool_ = nullptr;
  std::string hosts_;
};

// The write errors of a bulk or insert_many reply: (index, code, message).
struct WriteError {
  size_t index = 0;
  int code = 0;
  std::string message;
};
std::vector<WriteError> WriteErrors(const bson_t* reply);

struct UpdateResult {
  int64_t matched = 0;
  int64_t modified = 0;
  int64_t upserted = 0;
};

// One update of a bulk write: filter and update document.
struct UpdateOp {
  Doc filter;
  Doc update;
};

// A collection handle for one call, with the driver operations the store
// uses. Every method maps driver errors through Pool::ErrorStatus; `what`
// names the store operation in messages.
class Collection {
 public:
  Collection(const Pool& pool, const Pool::Lease& lease, const std::string& db,
             const std::string& name)
      : pool_(pool), c_(mongoc_client_get_collection(lease.client(), db.c_str(), name.c_str())) {}
  ~Collection() { mongoc_collection_destroy(c_); }
  Collection(const Collection&) = delete;
  Collection& operator=(const Collection&) = delete;

  // Every matching document (callers bound the result with a limit).
  absl::StatusOr<std::vector<BsonPtr>> Find(const Doc& filter, const Doc& opts,
                                            std::string_view what) const;
  // findAndModify: the document after the change (RETURN_NEW is implied
  // unless `remove`), or nullptr when nothing matched.
  absl::StatusOr<BsonPtr> FindAndModify(const Doc& query, const Doc* sort, const Doc& update,
                                        bool upsert, std::string_view what) const;
  absl::StatusOr<UpdateResult> UpdateOne(const Doc& filter, const Doc& update, bool upsert,
                                         std::string_view what) const;
  absl::StatusOr<UpdateResult> ReplaceOne(const Doc& filter, const Doc& replacement, bool upsert,
                                          std::string_view what) const;
  // Unordered bulk of updates whose filters each match at most one document
  // (they name _id); returns how many documents matched in all. Each is sent
  // as an update-many: FerretDB holds a backend connection per updateOne of
  // a command until the command ends (and deadlocks once a command has more
  // than its pool), while an update-many reads its matches to the end and
  // releases the connection at once.
  absl::StatusOr<int64_t> BulkUpdateById(const std::vector<UpdateOp>& ops,
                                         std::string_view what) const;
  absl::StatusOr<int64_t> DeleteOne(const Doc& filter, std::string_view what) const;
  absl::StatusOr<int64_t> DeleteMany(const Doc& filter, std::string_view what) const;
  absl::Status InsertOne(const Doc& doc, std::string_view what) const;
  // Unordered insert. A call-level error (no server) is returned as the
  // status; per-document failures (duplicate keys) come back as write errors
  // with an OK status.
  absl::StatusOr<std::vector<WriteError>> InsertMany(const std::vector<const bson_t*>& docs,
                                                     std::string_view what) const;
  absl::StatusOr<std::vector<BsonPtr>> Aggregate(const Doc& pipeline, std::string_view what) const;
  // A database command run against this collection's database.
  absl::Status Command(const Doc& command, std::string_view what) const;
  // The names of the collection's indexes (none when it does not exist).
  absl::StatusOr<std::vector<std::string>> IndexNames(std::string_view what) const;
  // A read command (e.g. buildInfo) on this collection's database: the reply.
  absl::StatusOr<BsonPtr> ReadCommand(const Doc& command, std::string_view what) const;

 private:
  const Pool& pool_;
  mongoc_collection_t* c_;
};

}  // namespace popqueue::store::mongodb

#endif  // POPQUEUE_STORE_MONGODB_MONGO_CLIENT_H_
