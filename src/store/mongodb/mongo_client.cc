#include "store/mongodb/mongo_client.h"

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <string>
#include <utility>

#include "absl/strings/str_format.h"
#include "common/log.h"
#include "store/mongodb/command_count.h"

namespace popqueue::store::mongodb {
namespace {

// Routes the driver's warnings and errors to popqueue's log; drops its
// informational chatter.
void LogHandler(mongoc_log_level_t level, const char* domain, const char* message, void*) {
  if (level > MONGOC_LOG_LEVEL_WARNING) return;
  // Servers without sessions (FerretDB) refuse the endSessions a pool sends
  // when it closes: harmless.
  if (std::string_view(message).find("endSessions") != std::string_view::npos) {
    return;
  }
  LogLine(level == MONGOC_LOG_LEVEL_WARNING ? LogLevel::kWarn : LogLevel::kError,
          absl::StrFormat("mongoc %s: %s", domain, message));
}

std::atomic<int64_t> commands_sent{0};

// Command monitoring: one call per command the driver sends.
void CountCommand(const mongoc_apm_command_started_t*) {
  commands_sent.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace

int64_t CommandsSent() { return commands_sent.load(std::memory_order_relaxed); }

void InitDriver() {
  static std::once_flag once;
  std::call_once(once, [] {
    mongoc_init();
    mongoc_log_set_handler(LogHandler, nullptr);
    // mongoc_cleanup() is never called: pools may outlive static
    // destruction order, and the OS reclaims everything at exit.
  });
}

namespace {

void SetDefaultInt32(mongoc_uri_t* uri, const char* option, int32_t value) {
  if (!mongoc_uri_has_option(uri, option)) {
    mongoc_uri_set_option_as_int32(uri, option, value);
  }
}

// Server error codes that mean "this server cannot serve now" rather than
// "the request is wrong": host unreachable/not found, network timeout,
// shutdown in progress, stepped down, not primary, interrupted at shutdown.
bool IsTransientServerCode(uint32_t code) {
  switch (code) {
    case 6:
    case 7:
    case 89:
    case 91:
    case 189:
    case 9001:
    case 10107:
    case 11600:
    case 11602:
    case 13435:
    case 13436: return true;
    default: return false;
  }
}

}  // namespace

Doc& Doc::Int64(std::string_view key, int64_t v) {
  bson_append_int64(b_.get(), key.data(), static_cast<int>(key.size()), v);
  return *this;
}

Doc& Doc::Int32(std::string_view key, int32_t v) {
  bson_append_int32(b_.get(), key.data(), static_cast<int>(key.size()), v);
  return *this;
}

Doc& Doc::Str(std::string_view key, std::string_view v) {
  bson_append_utf8(b_.get(), key.data(), static_cast<int>(key.size()), v.data(),
                   static_cast<int>(v.size()));
  return *this;
}

Doc& Doc::Bool(std::string_view key, bool v) {
  bson_append_bool(b_.get(), key.data(), static_cast<int>(key.size()), v);
  return *this;
}

Doc& Doc::Null(std::string_view key) {
  bson_append_null(b_.get(), key.data(), static_cast<int>(key.size()));
  return *this;
}

Doc& Doc::Time(std::string_view key, absl::Time t) { return Int64(key, absl::ToUnixMicros(t)); }

Doc& Doc::Sub(std::string_view key, const Doc& sub) {
  bson_append_document(b_.get(), key.data(), static_cast<int>(key.size()), sub.get());
  return *this;
}

Doc& Doc::Int64Array(std::string_view key, const std::vector<int64_t>& v) {
  bson_t arr;
  bson_append_array_begin(b_.get(), key.data(), static_cast<int>(key.size()), &arr);
  char buf[16];
  for (size_t i = 0; i < v.size(); ++i) {
    const char* k;
    size_t len = bson_uint32_to_string(static_cast<uint32_t>(i), &k, buf, sizeof buf);
    bson_append_int64(&arr, k, static_cast<int>(len), v[i]);
  }
  bson_append_array_end(b_.get(), &arr);
  return *this;
}

Doc& Doc::StrArray(std::string_view key, const std::vector<std::string>& v) {
  bson_t arr;
  bson_append_array_begin(b_.get(), key.data(), static_cast<int>(key.size()), &arr);
  char buf[16];
  for (size_t i = 0; i < v.size(); ++i) {
    const char* k;
    size_t len = bson_uint32_to_string(static_cast<uint32_t>(i), &k, buf, sizeof buf);
    bson_append_utf8(&arr, k, static_cast<int>(len), v[i].data(), static_cast<int>(v[i].size()));
  }
  bson_append_array_end(b_.get(), &arr);
  return *this;
}

Doc& Doc::DocArray(std::string_view key, const std::vector<Doc>& v) {
  bson_t arr;
  bson_append_array_begin(b_.get(), key.data(), static_cast<int>(key.size()), &arr);
  char buf[16];
  for (size_t i = 0; i < v.size(); ++i) {
    const char* k;
    size_t len = bson_uint32_to_string(static_cast<uint32_t>(i), &k, buf, sizeof buf);
    bson_append_document(&arr, k, static_cast<int>(len), v[i].get());
  }
  bson_append_array_end(b_.get(), &arr);
  return *this;
}

std::string Doc::ToJson() const {
  char* json = bson_as_canonical_extended_json(b_.get(), nullptr);
  std::string out = json ? json : "";
  bson_free(json);
  return out;
}

int64_t IterInt64(const bson_iter_t* it) {
  return BSON_ITER_HOLDS_NUMBER(it) ? bson_iter_as_int64(it) : 0;
}

std::string IterStr(const bson_iter_t* it) {
  if (!BSON_ITER_HOLDS_UTF8(it)) return "";
  uint32_t len = 0;
  const char* s = bson_iter_utf8(it, &len);
  return std::string(s, len);
}

std::optional<int64_t> GetInt64(const bson_t* doc, const char* key) {
  bson_iter_t it;
  if (!bson_iter_init_find(&it, doc, key) || !BSON_ITER_HOLDS_NUMBER(&it)) {
    return std::nullopt;
  }
  return bson_iter_as_int64(&it);
}

std::optional<std::string> GetStr(const bson_t* doc, const char* key) {
  bson_iter_t it;
  if (!bson_iter_init_find(&it, doc, key) || !BSON_ITER_HOLDS_UTF8(&it)) {
    return std::nullopt;
  }
  return IterStr(&it);
}

bool GetBool(const bson_t* doc, const char* key) {
  bson_iter_t it;
  return bson_iter_init_find(&it, doc, key) && bson_iter_as_bool(&it);
}

std::optional<absl::Time> GetTime(const bson_t* doc, const char* key) {
  std::optional<int64_t> us = GetInt64(doc, key);
  if (!us) return std::nullopt;
  return absl::FromUnixMicros(*us);
}

absl::Time AsStored(absl::Time t) { return absl::FromUnixMicros(absl::ToUnixMicros(t)); }

absl::StatusOr<const bson_t*> Cursor::Next() {
  const bson_t* doc = nullptr;
  if (mongoc_cursor_next(c_, &doc)) return doc;
  bson_error_t error;
  if (mongoc_cursor_error(c_, &error)) {
    return pool_->ErrorStatus(error, "read");
  }
  return nullptr;
}

absl::StatusOr<std::unique_ptr<Pool>> Pool::Open(const std::string& url) {
  InitDriver();
  bson_error_t error;
  mongoc_uri_t* uri = mongoc_uri_new_with_error(url.c_str(), &error);
  if (uri == nullptr) {
    // The driver's message quotes no part of the URL (so no password).
    return absl::InvalidArgumentError(absl::StrFormat("bad mongodb URL: %s", error.message));
  }
  std::unique_ptr<Pool> pool(new Pool());
  pool->uri_ = uri;
  SetDefaultInt32(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, 2000);
  SetDefaultInt32(uri, MONGOC_URI_CONNECTTIMEOUTMS, 2000);
  SetDefaultInt32(uri, MONGOC_URI_SOCKETTIMEOUTMS, 60000);
  if (mongoc_uri_get_appname(uri) == nullptr) {
    mongoc_uri_set_appname(uri, "popqueue");
  }
  for (const mongoc_host_list_t* h = mongoc_uri_get_hosts(uri); h != nullptr; h = h->next) {
    if (!pool->hosts_.empty()) pool->hosts_ += ",";
    pool->hosts_ += h->host_and_port;
  }
  if (pool->hosts_.empty()) pool->hosts_ = "(srv)";
  pool->pool_ = mongoc_client_pool_new(uri);
  if (pool->pool_ == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrFormat("mongodb %s: the driver refused the URL's options", pool->hosts_));
  }
  mongoc_client_pool_set_error_api(pool->pool_, MONGOC_ERROR_API_VERSION_2);
  // Counts round trips (command_count.h); set before any client is popped.
  mongoc_apm_callbacks_t* callbacks = mongoc_apm_callbacks_new();
  mongoc_apm_set_command_started_cb(callbacks, &CountCommand);
  mongoc_client_pool_set_apm_callbacks(pool->pool_, callbacks, nullptr);
  mongoc_apm_callbacks_destroy(callbacks);
  return pool;
}

Pool::~Pool() {
  if (pool_ != nullptr) mongoc_client_pool_destroy(pool_);
  if (uri_ != nullptr) mongoc_uri_destroy(uri_);
}

absl::Status Pool::ErrorStatus(const bson_error_t& error, std::string_view what) const {
  const std::string message = absl::StrFormat("mongodb %s: %s: %s", hosts_, what, error.message);
  switch (error.domain) {
    case MONGOC_ERROR_SERVER_SELECTION:
    case MONGOC_ERROR_STREAM: return absl::UnavailableError(message);
    case MONGOC_ERROR_CLIENT:
      if (error.code == MONGOC_ERROR_CLIENT_AUTHENTICATE) {
        return absl::UnauthenticatedError(message);
      }
      if (error.code == MONGOC_ERROR_CLIENT_TOO_BIG) {
        return absl::InvalidArgumentError(message);
      }
      return absl::InternalError(message);
    case MONGOC_ERROR_SERVER:
    case MONGOC_ERROR_WRITE_CONCERN:
      if (error.code == kDuplicateKey) return absl::AlreadyExistsError(message);
      if (IsTransientServerCode(error.code)) {
        return absl::UnavailableError(message);
      }
      if (error.code == 18) return absl::UnauthenticatedError(message);
      return absl::InternalError(message);
    default: return absl::InternalError(message);
  }
}

namespace {

UpdateResult ReadUpdateResult(const bson_t* reply) {
  return UpdateResult{.matched = GetInt64(reply, "matchedCount").value_or(0),
                      .modified = GetInt64(reply, "modifiedCount").value_or(0),
                      .upserted = GetInt64(reply, "upsertedCount").value_or(0)};
}

Doc UpsertOpts(bool upsert) {
  Doc opts;
  if (upsert) opts.Bool("upsert", true);
  return opts;
}

}  // namespace

absl::StatusOr<std::vector<BsonPtr>> Collection::Find(const Doc& filter, const Doc& opts,
                                                      std::string_view what) const {
  Cursor cursor(mongoc_collection_find_with_opts(c_, filter.get(), opts.get(), nullptr), &pool_);
  std::vector<BsonPtr> out;
  while (true) {
    absl::StatusOr<const bson_t*> doc = cursor.Next();
    if (!doc.ok()) return doc.status();
    if (*doc == nullptr) break;
    out.emplace_back(bson_copy(*doc));
  }
  return out;
}

absl::StatusOr<BsonPtr> Collection::FindAndModify(const Doc& query, const Doc* sort,
                                                  const Doc& update, bool upsert,
                                                  std::string_view what) const {
  mongoc_find_and_modify_opts_t* opts = mongoc_find_and_modify_opts_new();
  if (sort != nullptr) mongoc_find_and_modify_opts_set_sort(opts, sort->get());
  mongoc_find_and_modify_opts_set_update(opts, update.get());
  int flags = MONGOC_FIND_AND_MODIFY_RETURN_NEW;
  if (upsert) flags |= MONGOC_FIND_AND_MODIFY_UPSERT;
  mongoc_find_and_modify_opts_set_flags(opts, static_cast<mongoc_find_and_modify_flags_t>(flags));
  Reply reply;
  bson_error_t error;
  const bool ok =
      mongoc_collection_find_and_modify_with_opts(c_, query.get(), opts, reply.out(), &error);
  mongoc_find_and_modify_opts_destroy(opts);
  if (!ok) return pool_.ErrorStatus(error, what);
  bson_iter_t it;
  if (!bson_iter_init_find(&it, reply.get(), "value") || !BSON_ITER_HOLDS_DOCUMENT(&it)) {
    return BsonPtr();
  }
  uint32_t len = 0;
  const uint8_t* data = nullptr;
  bson_iter_document(&it, &len, &data);
  return BsonPtr(bson_new_from_data(data, len));
}

absl::StatusOr<UpdateResult> Collection::UpdateOne(const Doc& filter, const Doc& update,
                                                   bool upsert, std::string_view what) const {
  Reply reply;
  bson_error_t error;
  if (!mongoc_collection_update_one(c_, filter.get(), update.get(), UpsertOpts(upsert).get(),
                                    reply.out(), &error)) {
    return pool_.ErrorStatus(error, what);
  }
  return ReadUpdateResult(reply.get());
}

absl::StatusOr<UpdateResult> Collection::ReplaceOne(const Doc& filter, const Doc& replacement,
                                                    bool upsert, std::string_view what) const {
  Reply reply;
  bson_error_t error;
  if (!mongoc_collection_replace_one(c_, filter.get(), replacement.get(), UpsertOpts(upsert).get(),
                                     reply.out(), &error)) {
    return pool_.ErrorStatus(error, what);
  }
  return ReadUpdateResult(reply.get());
}

absl::StatusOr<int64_t> Collection::BulkUpdateById(const std::vector<UpdateOp>& ops,
                                                   std::string_view what) const {
  if (ops.empty()) return 0;
  Doc opts;
  opts.Bool("ordered", false);
  mongoc_bulk_operation_t* bulk = mongoc_collection_create_bulk_operation_with_opts(c_, opts.get());
  bson_error_t error;
  for (const UpdateOp& op : ops) {
    if (!mongoc_bulk_operation_update_many_with_opts(bulk, op.filter.get(), op.update.get(),
                                                     nullptr, &error)) {
      mongoc_bulk_operation_destroy(bulk);
      return pool_.ErrorStatus(error, what);
    }
  }
  Reply reply;
  const uint32_t server = mongoc_bulk_operation_execute(bulk, reply.out(), &error);
  mongoc_bulk_operation_destroy(bulk);
  if (server == 0) return pool_.ErrorStatus(error, what);
  return GetInt64(reply.get(), "nMatched").value_or(0);
}

absl::StatusOr<int64_t> Collection::DeleteOne(const Doc& filter, std::string_view what) const {
  Reply reply;
  bson_error_t error;
  if (!mongoc_collection_delete_one(c_, filter.get(), nullptr, reply.out(), &error)) {
    return pool_.ErrorStatus(error, what);
  }
  return GetInt64(reply.get(), "deletedCount").value_or(0);
}

absl::StatusOr<int64_t> Collection::DeleteMany(const Doc& filter, std::string_view what) const {
  Reply reply;
  bson_error_t error;
  if (!mongoc_collection_delete_many(c_, filter.get(), nullptr, reply.out(), &error)) {
    return pool_.ErrorStatus(error, what);
  }
  return GetInt64(reply.get(), "deletedCount").value_or(0);
}

absl::Status Collection::InsertOne(const Doc& doc, std::string_view what) const {
  Reply reply;
  bson_error_t error;
  if (!mongoc_collection_insert_one(c_, doc.get(), nullptr, reply.out(), &error)) {
    return pool_.ErrorStatus(error, what);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<WriteError>> Collection::InsertMany(
    const std::vector<const bson_t*>& docs, std::string_view what) const {
  if (docs.empty()) return std::vector<WriteError>();
  Doc opts;
  opts.Bool("ordered", false);
  std::vector<const bson_t*> ptrs = docs;
  Reply reply;
  bson_error_t error;
  if (mongoc_collection_insert_many(c_, ptrs.data(), ptrs.size(), opts.get(), reply.out(),
                                    &error)) {
    return std::vector<WriteError>();
  }
  std::vector<WriteError> errors = WriteErrors(reply.get());
  if (errors.empty()) return pool_.ErrorStatus(error, what);
  return errors;
}

absl::StatusOr<std::vector<BsonPtr>> Collection::Aggregate(const Doc& pipeline,
                                                           std::string_view what) const {
  Cursor cursor(
      mongoc_collection_aggregate(c_, MONGOC_QUERY_NONE, pipeline.get(), nullptr, nullptr), &pool_);
  std::vector<BsonPtr> out;
  while (true) {
    absl::StatusOr<const bson_t*> doc = cursor.Next();
    if (!doc.ok()) return doc.status();
    if (*doc == nullptr) break;
    out.emplace_back(bson_copy(*doc));
  }
  return out;
}

absl::Status Collection::Command(const Doc& command, std::string_view what) const {
  Reply reply;
  bson_error_t error;
  if (!mongoc_collection_write_command_with_opts(c_, command.get(), nullptr, reply.out(), &error)) {
    return pool_.ErrorStatus(error, what);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> Collection::IndexNames(std::string_view what) const {
  Cursor cursor(mongoc_collection_find_indexes_with_opts(c_, nullptr), &pool_);
  std::vector<std::string> names;
  while (true) {
    absl::StatusOr<const bson_t*> doc = cursor.Next();
    if (!doc.ok()) {
      // NamespaceNotFound: no collection yet, so no indexes.
      if (absl::IsInternal(doc.status()) &&
          std::string(doc.status().message()).find("does not exist") != std::string::npos) {
        return std::vector<std::string>();
      }
      return doc.status();
    }
    if (*doc == nullptr) break;
    names.push_back(GetStr(*doc, "name").value_or(""));
  }
  return names;
}

absl::StatusOr<BsonPtr> Collection::ReadCommand(const Doc& command, std::string_view what) const {
  Reply reply;
  bson_error_t error;
  if (!mongoc_collection_read_command_with_opts(c_, command.get(), nullptr, nullptr, reply.out(),
                                                &error)) {
    return pool_.ErrorStatus(error, what);
  }
  return BsonPtr(bson_copy(reply.get()));
}

std::vector<WriteError> WriteErrors(const bson_t* reply) {
  std::vector<WriteError> out;
  bson_iter_t it, arr;
  if (!bson_iter_init_find(&it, reply, "writeErrors") || !BSON_ITER_HOLDS_ARRAY(&it) ||
      !bson_iter_recurse(&it, &arr)) {
    return out;
  }
  while (bson_iter_next(&arr)) {
    if (!BSON_ITER_HOLDS_DOCUMENT(&arr)) continue;
    bson_iter_t field;
    if (!bson_iter_recurse(&arr, &field)) continue;
    WriteError e;
    while (bson_iter_next(&field)) {
      std::string_view key = bson_iter_key(&field);
      if (key == "index") e.index = static_cast<size_t>(IterInt64(&field));
      if (key == "code") e.code = static_cast<int>(IterInt64(&field));
      if (key == "errmsg") e.message = IterStr(&field);
    }
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace popqueue::store::mongodb
