// The configuration keys: one table that says, for every setting, its name
// in config.json, its environment variable, its command-line flag, its type,
// its default and whether it is a secret. Loading (config.h), the `popqueue
// config check` report and docs/configuration.md all follow this table.
//
// Thread-safety: the table is immutable.
#ifndef POPQUEUE_CONFIG_KEYS_H_
#define POPQUEUE_CONFIG_KEYS_H_

#include <cstdint>
#include <span>
#include <string_view>

namespace popqueue::config {

enum class ValueType {
  kString,    // any text
  kUrl,       // a connection URL; its password is a secret
  kInt,       // an integer in [min, max]
  kBool,      // true/false (env and flags also: 1/0, yes/no)
  kDuration,  // "500ms", "30s", "5m", "1h30m", or a number of milliseconds
  kList,      // JSON array of strings, or "a,b,c"
  kEnum,      // one of `choices` (separated by '|')
  kObject,    // a JSON object (env: JSON text), parsed by its owner
  // The worker limits (limits.h): a compact text syntax for env and flags,
  // a JSON object in config.json.
  kCountMap,        // "emails=20" | {"emails": 20}; counts in [min, max]
  kRateLimits,      // "emails=100/1s" | {"emails": {"limit": 100, ...}}
  kResourceLimits,  // "on" | "off" | "cpuHigh=0.8,minConcurrency=2" | {...}
};

struct KeySpec {
  std::string_view key;   // config.json name, e.g. "dbUrl"
  std::string_view env;   // environment variable; "" = none
  std::string_view flag;  // command-line flag without "--"; "" = none
  ValueType type;
  // The default as text in the type's env/flag syntax; "" = unset.
  std::string_view default_text;
  std::string_view help;  // what it is, one line
  // kInt, kCountMap (each count), kResourceLimits (its integer fields):
  // inclusive range.
  int64_t min = 0;
  int64_t max = 0;
  std::string_view choices = "";  // kEnum: "debug|info|warn|error"
  bool secret = false;            // whole value redacted (tokens)
  // A boolean flag that sets the key to false when given ("no-grpc").
  bool negated_flag = false;
};

// Every key, in the order `config check` lists them.
std::span<const KeySpec> AllKeys();
// The key named `key` in config.json, or nullptr.
const KeySpec* FindKey(std::string_view key);

// Key names, for code that reads settings.
namespace key {
inline constexpr std::string_view kDbUrl = "dbUrl";
inline constexpr std::string_view kPostgresUrl = "postgresUrl";
inline constexpr std::string_view kCacheUrl = "cacheUrl";
inline constexpr std::string_view kRedisUrl = "redisUrl";
inline constexpr std::string_view kMemcachedUrl = "memcachedUrl";
inline constexpr std::string_view kDbName = "dbName";
inline constexpr std::string_view kCollectionName = "collectionName";
inline constexpr std::string_view kRetries = "retries";
inline constexpr std::string_view kMaxPayloadBytes = "maxPayloadBytes";
inline constexpr std::string_view kWorkerId = "workerId";
inline constexpr std::string_view kWorkerTimeout = "workerTimeout";
inline constexpr std::string_view kConcurrency = "concurrency";
inline constexpr std::string_view kQueues = "queues";
inline constexpr std::string_view kQueueConcurrency = "queueConcurrency";
inline constexpr std::string_view kMaxConcurrency = "maxConcurrency";
inline constexpr std::string_view kQueueRateLimits = "queueRateLimits";
inline constexpr std::string_view kJobRateLimits = "jobRateLimits";
inline constexpr std::string_view kMaxHeldJobs = "maxHeldJobs";
inline constexpr std::string_view kMaxPrefetch = "maxPrefetch";
inline constexpr std::string_view kResourceLimits = "resourceLimits";
inline constexpr std::string_view kPollInterval = "pollInterval";
inline constexpr std::string_view kLeaseDuration = "leaseDuration";
inline constexpr std::string_view kHeartbeatInterval = "heartbeatInterval";
inline constexpr std::string_view kRescueInterval = "rescueInterval";
inline constexpr std::string_view kShutdownDeadline = "shutdownDeadline";
inline constexpr std::string_view kStopGrace = "stopGrace";
inline constexpr std::string_view kBackoffBase = "backoffBase";
inline constexpr std::string_view kBackoffCap = "backoffCap";
inline constexpr std::string_view kRetainCompleted = "retainCompleted";
inline constexpr std::string_view kRetainCancelled = "retainCancelled";
inline constexpr std::string_view kRetainDead = "retainDead";
inline constexpr std::string_view kHost = "host";
inline constexpr std::string_view kPort = "port";
inline constexpr std::string_view kGrpcAddress = "grpcAddress";
inline constexpr std::string_view kMetricsAddress = "metricsAddress";
inline constexpr std::string_view kGrpcEnabled = "grpcEnabled";
inline constexpr std::string_view kMaxFetchWait = "maxFetchWait";
inline constexpr std::string_view kServeMaintenance = "serveMaintenance";
inline constexpr std::string_view kTlsCert = "tlsCert";
inline constexpr std::string_view kTlsKey = "tlsKey";
inline constexpr std::string_view kGrpcClientCa = "grpcClientCa";
inline constexpr std::string_view kToken = "token";
inline constexpr std::string_view kTokens = "tokens";
inline constexpr std::string_view kPublicReads = "publicReads";
inline constexpr std::string_view kCors = "cors";
inline constexpr std::string_view kMaxRequestBytes = "maxRequestBytes";
inline constexpr std::string_view kGrpcMaxMessageBytes = "grpcMaxMessageBytes";
inline constexpr std::string_view kLogLevel = "logLevel";
inline constexpr std::string_view kNotificationConfig = "notificationConfig";
inline constexpr std::string_view kSchedules = "schedules";
}  // namespace key

}  // namespace popqueue::config

#endif  // POPQUEUE_CONFIG_KEYS_H_
