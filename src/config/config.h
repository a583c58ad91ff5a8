// The effective configuration of a popqueue process, and where each value
// came from.
//
// Precedence, per key: command-line flag > environment > config.json >
// default. The config.json read is `--config FILE`, else $POPQUEUE_CONFIG,
// else ./config.json when it exists (none is fine). Its keys are those of
// keys.h; an unknown key is an error (typo protection), except inside
// notificationConfig, which src/notify validates.
//
// Two pairs of keys name the same thing; the general key wins:
//   job store:   dbUrl (any level) > postgresUrl (any level) > default
//   coordinator: cacheUrl (any level) > redisUrl (any level) > memcachedUrl
//                (the original README's config.json sets all four URLs and
//                must load: it runs on the dbUrl store coordinated by Redis).
// A key that loses this way is kept and reported by notes().
//
// Every invalid value is InvalidArgument naming the key, where it came from
// and what was expected; secrets never appear in messages.
//
// Thread-safety: a loaded Config is immutable and may be shared.
#ifndef POPQUEUE_CONFIG_CONFIG_H_
#define POPQUEUE_CONFIG_CONFIG_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "config/keys.h"
#include "nlohmann/json.hpp"
#include "popqueue/queue.h"

namespace popqueue::config {

enum class Source { kDefault, kFile, kEnv, kFlag };
// "default", "config.json", "env", "flag".
std::string_view SourceName(Source source);

struct Setting {
  nlohmann::json value;  // normalized, see value.h
  Source source = Source::kDefault;
  // The flag ("--db-url"), variable ("DB_URL"), file path, or "default".
  std::string origin;
};

using StringMap = std::map<std::string, std::string, std::less<>>;

struct LoadOptions {
  // --config; "" = $POPQUEUE_CONFIG, else <working_dir>/config.json if any.
  std::string config_path;
  StringMap env;  // the environment (ProcessEnvironment() in production)
  // The flags given, by name without "--" ("db-url" -> "sqlite://x.db"). A
  // boolean flag is "true"/"false".
  StringMap flags;
  std::string working_dir = ".";
  // config.json's contents, instead of finding and reading a file (tests,
  // fuzzing); config_path, or "config.json" when empty, names it.
  std::optional<std::string> config_text;
  // Validates notificationConfig (src/notify's ParseNotifyConfig); null =
  // only "is an object" is checked.
  std::function<absl::Status(const nlohmann::json&)> validate_notifications;
};

// A copy of this process's environment.
StringMap ProcessEnvironment();

class Config {
 public:
  // The setting of `key`, or nullptr when it has no value (no default, not
  // given).
  const Setting* Get(std::string_view key) const;
  // True when `key` was given by a flag, the environment or config.json.
  bool IsSet(std::string_view key) const;

  // Typed reads of keys of the matching type; "", 0, false, zero or {} when
  // the key has no value.
  std::string GetString(std::string_view key) const;
  int64_t GetInt(std::string_view key) const;
  bool GetBool(std::string_view key) const;
  absl::Duration GetDuration(std::string_view key) const;
  std::vector<std::string> GetList(std::string_view key) const;

  // The job store URL and the key it came from ("dbUrl" or "postgresUrl").
  const std::string& db_url() const { return db_url_; }
  std::string_view db_url_key() const { return db_url_key_; }
  // The coordinator URL ("" = none) and its key ("" when none).
  const std::string& cache_url() const { return cache_url_; }
  std::string_view cache_url_key() const { return cache_url_key_; }
  // notificationConfig as given (null when none).
  const nlohmann::json& notification_config() const;
  // The config.json that was read; "" when none.
  const std::string& file() const { return file_; }
  // Why a given key has no effect, e.g. "postgresUrl is ignored: dbUrl is
  // set (DB_URL)".
  const std::vector<std::string>& notes() const { return notes_; }

  // The settings as the library's QueueConfig (connection, retries, worker
  // options). handle_signals and clock keep their defaults.
  QueueConfig ToQueueConfig() const;

  // The whole configuration as JSON for `config check --json`, secrets
  // redacted: {"file", "store": {url, key}, "cache": {url, key}, "notes",
  //  "settings": {key: {"value", "source", "origin"}}}.
  nlohmann::json ToRedactedJson() const;

 private:
  friend absl::StatusOr<Config> LoadConfig(const LoadOptions& options);
  friend absl::Status ResolveConnections(Config& config);  // validate.h

  std::map<std::string, Setting, std::less<>> settings_;
  std::string db_url_;
  std::string db_url_key_;
  std::string cache_url_;
  std::string cache_url_key_;
  std::string file_;
  std::vector<std::string> notes_;
};

absl::StatusOr<Config> LoadConfig(const LoadOptions& options);

}  // namespace popqueue::config

#endif  // POPQUEUE_CONFIG_CONFIG_H_
