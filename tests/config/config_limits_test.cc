// The worker-limit and size-limit keys (src/config/limits.h): their JSON and
// text forms from every source, what they become in WorkerOptions, the
// messages for bad values, and that what loads is what the library accepts.
// config.json is given as text (LoadOptions::config_text).
#include <string>
#include <vector>

#include "config/config.h"
#include "config/keys.h"
#include "config/value.h"
#include "core/concurrency_limiter.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "popqueue/options.h"

namespace popqueue {
// For the matchers below (found by argument-dependent lookup).
bool operator==(const RateLimit& a, const RateLimit& b) {
  return a.limit == b.limit && a.period == b.period;
}
}  // namespace popqueue

namespace popqueue::config {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

absl::StatusOr<Config> Load(const std::string& file, StringMap env = {}, StringMap flags = {}) {
  LoadOptions options;
  if (!file.empty()) options.config_text = file;
  options.working_dir = "/nonexistent";
  options.env = std::move(env);
  options.flags = std::move(flags);
  return LoadConfig(options);
}

TEST(LimitsTest, DefaultsAreTheLibraryDefaults) {
  absl::StatusOr<Config> c = Load("");
  ASSERT_TRUE(c.ok()) << c.status();
  const WorkerOptions w = c->ToQueueConfig().worker;
  const WorkerOptions d;
  EXPECT_EQ(w.max_concurrency, d.max_concurrency);
  EXPECT_EQ(w.max_held_jobs, d.max_held_jobs);
  EXPECT_THAT(w.concurrency, IsEmpty());
  EXPECT_THAT(w.queue_rate_limits, IsEmpty());
  EXPECT_THAT(w.job_rate_limits, IsEmpty());
  EXPECT_EQ(w.resource.enabled, d.resource.enabled);
  EXPECT_EQ(w.resource.cpu_high, d.resource.cpu_high);
  EXPECT_EQ(w.resource.cpu_low, d.resource.cpu_low);
  EXPECT_EQ(w.resource.memory_high, d.resource.memory_high);
  EXPECT_EQ(w.resource.memory_low, d.resource.memory_low);
  EXPECT_EQ(w.resource.min_concurrency, d.resource.min_concurrency);
  EXPECT_EQ(w.resource.check_interval, d.resource.check_interval);
  EXPECT_EQ(w.resource.decrease_factor, d.resource.decrease_factor);
  EXPECT_EQ(w.resource.increase_step, d.resource.increase_step);
  EXPECT_EQ(c->GetInt(key::kMaxRequestBytes), 1 << 20);      // HttpOptions
  EXPECT_EQ(c->GetInt(key::kGrpcMaxMessageBytes), 4 << 20);  // GrpcOptions
  EXPECT_EQ(c->Get(key::kQueueRateLimits), nullptr);
  EXPECT_EQ(FormatValue(*FindKey(key::kResourceLimits), c->Get(key::kResourceLimits)->value),
            "off");
}

TEST(LimitsTest, ConfigJsonObjectsBecomeWorkerOptions) {
  absl::StatusOr<Config> c = Load(R"({
    "queues": ["emails", "reports"],
    "queueConcurrency": {"emails": 20, "reports": 2},
    "maxConcurrency": 16,
    "queueRateLimits": {"emails": {"limit": 100, "period": "1s"},
                        "reports": "5/1m"},
    "jobRateLimits": {"send_sms": {"limit": 30, "period": 60000},
                      "other": {"limit": 7}},
    "maxHeldJobs": 50,
    "resourceLimits": {"cpuHigh": 0.8, "cpuLow": 0.6, "minConcurrency": 2,
                       "checkInterval": "500ms"}
  })");
  ASSERT_TRUE(c.ok()) << c.status();
  const WorkerOptions w = c->ToQueueConfig().worker;
  EXPECT_THAT(w.concurrency, UnorderedElementsAre(Pair("emails", 20), Pair("reports", 2)));
  EXPECT_EQ(w.max_concurrency, 16);
  EXPECT_EQ(w.max_held_jobs, 50);
  EXPECT_THAT(w.queue_rate_limits,
              UnorderedElementsAre(Pair("emails", RateLimit{100, absl::Seconds(1)}),
                                   Pair("reports", RateLimit{5, absl::Minutes(1)})));
  EXPECT_THAT(w.job_rate_limits,
              UnorderedElementsAre(Pair("send_sms", RateLimit{30, absl::Minutes(1)}),
                                   Pair("other", RateLimit{7, absl::Seconds(1)})));
  EXPECT_TRUE(w.resource.enabled);  // fields given: on
  EXPECT_EQ(w.resource.cpu_high, 0.8);
  EXPECT_EQ(w.resource.cpu_low, 0.6);
  EXPECT_EQ(w.resource.memory_high, ResourceLimits{}.memory_high);
  EXPECT_EQ(w.resource.min_concurrency, 2);
  EXPECT_EQ(w.resource.check_interval, absl::Milliseconds(500));
  // The library takes them as they are.
  EXPECT_TRUE(core::ValidateLimits(w).ok()) << core::ValidateLimits(w);
  // `config check` shows each in the env/flag syntax.
  nlohmann::json report = c->ToRedactedJson()["settings"];
  EXPECT_EQ(report["queueRateLimits"]["value"], "emails=100/1s,reports=5/1m");
  EXPECT_EQ(report["jobRateLimits"]["value"], "other=7/1s,send_sms=30/1m");
  EXPECT_EQ(report["queueConcurrency"]["value"], "emails=20,reports=2");
  EXPECT_EQ(report["resourceLimits"]["value"],
            "cpuHigh=0.8,cpuLow=0.6,minConcurrency=2,checkInterval=500ms");
  EXPECT_EQ(report["resourceLimits"]["source"], "config.json");
}

TEST(LimitsTest, TextSyntaxFromEnvironmentAndFlags) {
  absl::StatusOr<Config> c =
      Load(R"({"queueRateLimits": {"emails": {"limit": 1}}, "maxConcurrency": 3})",
           {{"POPQUEUE_QUEUE_RATE_LIMITS", "emails=50/1s"},
            {"POPQUEUE_JOB_RATE_LIMITS", " sms = 30/1m , mail=0/1s "},
            {"POPQUEUE_RESOURCE_LIMITS", "on"},
            {"POPQUEUE_MAX_CONCURRENCY", "4"}},
           {{"queue-rate-limits", "emails=100/1s,reports=5/1m"},
            {"queue-concurrency", "emails=3"},
            {"max-held-jobs", "10"},
            {"poll-interval", "250ms"},
            {"lease-duration", "1m"},
            {"heartbeat-interval", "20s"},
            {"shutdown-deadline", "3s"}});
  ASSERT_TRUE(c.ok()) << c.status();
  const WorkerOptions w = c->ToQueueConfig().worker;
  // flag > env > file
  EXPECT_THAT(w.queue_rate_limits,
              UnorderedElementsAre(Pair("emails", RateLimit{100, absl::Seconds(1)}),
                                   Pair("reports", RateLimit{5, absl::Minutes(1)})));
  EXPECT_EQ(c->Get(key::kQueueRateLimits)->origin, "--queue-rate-limits");
  EXPECT_THAT(w.job_rate_limits,
              UnorderedElementsAre(Pair("sms", RateLimit{30, absl::Minutes(1)}),
                                   Pair("mail", RateLimit{0, absl::Seconds(1)})));
  EXPECT_EQ(c->Get(key::kJobRateLimits)->origin, "POPQUEUE_JOB_RATE_LIMITS");
  EXPECT_EQ(w.max_concurrency, 4);
  EXPECT_THAT(w.concurrency, UnorderedElementsAre(Pair("emails", 3)));
  EXPECT_EQ(w.max_held_jobs, 10);
  EXPECT_TRUE(w.resource.enabled);
  EXPECT_EQ(w.resource.cpu_high, ResourceLimits{}.cpu_high);
  EXPECT_EQ(w.poll_interval, absl::Milliseconds(250));
  EXPECT_EQ(w.lease, absl::Minutes(1));
  EXPECT_EQ(w.heartbeat_interval, absl::Seconds(20));
  EXPECT_EQ(w.shutdown_deadline, absl::Seconds(3));
  // "none" clears a map given at a lower level.
  c = Load(R"({"jobRateLimits": {"sms": "1/1s"}})", {}, {{"job-rate-limits", "none"}});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(c->ToQueueConfig().worker.job_rate_limits, IsEmpty());
  // Resource fields in text; enabled=false keeps them but stays off.
  c = Load("", {},
           {{"resource-limits", "enabled=false,cpuHigh=0.5,cpuLow=0.25,decreaseFactor=0.9"}});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->ToQueueConfig().worker.resource.enabled);
  EXPECT_EQ(c->ToQueueConfig().worker.resource.decrease_factor, 0.9);
}

TEST(LimitsTest, TextFormsReadBackAsTheSameValue) {
  for (std::string_view k : {key::kQueueConcurrency, key::kQueueRateLimits, key::kResourceLimits}) {
    const KeySpec& spec = *FindKey(k);
    for (const char* text :
         {"none", "a=1", "a=1/1s,b=0/1ms,c=1000000000/24h", "q=1/1.5s", "on", "off", "cpuHigh=0.8",
          "enabled=false,increaseStep=3", "checkInterval=1500ms,memoryLow=0.1,memoryHigh=0.2"}) {
      absl::StatusOr<nlohmann::json> v = ParseText(spec, text);
      if (!v.ok()) continue;
      std::string formatted = FormatValue(spec, *v);
      absl::StatusOr<nlohmann::json> again = ParseText(spec, formatted);
      ASSERT_TRUE(again.ok()) << k << " " << formatted << ": " << again.status();
      EXPECT_EQ(*again, *v) << k << " " << text << " -> " << formatted;
    }
  }
}

// Every bad value stops loading, naming the key, its source and the problem.
TEST(LimitsTest, BadValuesNameKeySourceAndProblem) {
  struct Case {
    std::string file;
    StringMap env;
    StringMap flags;
    std::vector<std::string> mentions;
  };
  const std::vector<Case> cases = {
      {"",
       {},
       {{"queue-rate-limits", "emails=100"}},
       {"queueRateLimits", "flag --queue-rate-limits", "\"emails\"", "LIMIT/PERIOD",
        "emails=100/1s"}},
      {"",
       {},
       {{"queue-rate-limits", "emails=100/soon"}},
       {"queueRateLimits", "period \"soon\" is not a duration"}},
      {"",
       {},
       {{"queue-rate-limits", "emails=-1/1s"}},
       {"queueRateLimits", "limit must be an integer from 0"}},
      {"",
       {},
       {{"queue-rate-limits", "emails=1/0s"}},
       {"queueRateLimits", "period must be from 1ms to 24h"}},
      {"", {}, {{"queue-rate-limits", "emails=1/48h"}}, {"queueRateLimits", "1ms to 24h"}},
      {"",
       {},
       {{"queue-rate-limits", "a=1/1s,a=2/1s"}},
       {"queueRateLimits", "\"a\" is given twice"}},
      {"", {}, {{"queue-rate-limits", "=1/1s"}}, {"queueRateLimits", "empty name"}},
      {"",
       {{"POPQUEUE_JOB_RATE_LIMITS", "sms:30/1m"}},
       {},
       {"jobRateLimits", "environment variable POPQUEUE_JOB_RATE_LIMITS",
        "is not NAME=LIMIT/PERIOD"}},
      {R"({"jobRateLimits": {"sms": {"limit": 30, "perod": "1m"}}})",
       {},
       {},
       {"jobRateLimits", "file config.json", "unknown field \"perod\""}},
      {R"({"jobRateLimits": {"sms": {"period": "1m"}}})",
       {},
       {},
       {"jobRateLimits", "\"limit\" is missing"}},
      {R"({"jobRateLimits": ["sms"]})", {}, {}, {"jobRateLimits", "not an object"}},
      {R"({"jobRateLimits": {"a,b": "1/1s"}})", {}, {}, {"jobRateLimits", "',' or '='"}},
      {"",
       {},
       {{"queue-concurrency", "emails=0"}},
       {"queueConcurrency", "--queue-concurrency", "from 1 to 10000"}},
      {R"({"queueConcurrency": {"emails": "many"}})",
       {},
       {},
       {"queueConcurrency", "config.json", "from 1 to 10000"}},
      {"",
       {},
       {{"max-concurrency", "-1"}},
       {"maxConcurrency", "--max-concurrency", "0 to 1000000"}},
      {"",
       {{"POPQUEUE_MAX_HELD_JOBS", "0"}},
       {},
       {"maxHeldJobs", "POPQUEUE_MAX_HELD_JOBS", "1 to 1000000"}},
      {"",
       {},
       {{"resource-limits", "cpuHigh=0.5,cpuLow=0.9"}},
       {"resourceLimits", "--resource-limits",
        "cpuLow (0.9) must be below "
        "cpuHigh (0.5)"}},
      {"",
       {},
       {{"resource-limits", "cpuHigh=2"}},
       {"resourceLimits", "cpuHigh must be a fraction"}},
      {"",
       {},
       {{"resource-limits", "cpuHigh=nan"}},
       {"resourceLimits", "cpuHigh must be a fraction"}},
      {"",
       {},
       {{"resource-limits", "decreaseFactor=1"}},
       {"resourceLimits", "decreaseFactor must be below 1"}},
      {"",
       {},
       {{"resource-limits", "minConcurrency=0"}},
       {"resourceLimits", "minConcurrency must be an integer from 1"}},
      {"",
       {},
       {{"resource-limits", "cpuhigh=0.9,CPUHIGH=0.8"}},
       {"resourceLimits", "cpuHigh is given twice"}},
      {"",
       {{"POPQUEUE_RESOURCE_LIMITS", "maybe"}},
       {},
       {"resourceLimits", "POPQUEUE_RESOURCE_LIMITS", "is not FIELD=VALUE"}},
      {R"({"resourceLimits": {"cpuHi": 0.5}})",
       {},
       {},
       {"resourceLimits", "unknown field \"cpuHi\"", "cpuHigh"}},
      {R"({"resourceLimits": "yes please"})", {}, {}, {"resourceLimits", "is not FIELD=VALUE"}},
      {"",
       {},
       {{"max-request-bytes", "10"}},
       {"maxRequestBytes", "--max-request-bytes", "1024 to"}},
      {"",
       {},
       {{"max-payload-bytes", "1MB"}},
       {"maxPayloadBytes", "--max-payload-bytes", "an integer"}},
      {"",
       {{"POPQUEUE_GRPC_MAX_MESSAGE_BYTES", "2147483648"}},
       {},
       {"grpcMaxMessageBytes", "POPQUEUE_GRPC_MAX_MESSAGE_BYTES"}},
      {"", {}, {{"poll-interval", "0"}}, {"pollInterval", "--poll-interval", "positive"}},
      {"",
       {},
       {{"lease-duration", "5s"}},
       {"heartbeatInterval", "leaseDuration", "--lease-duration"}},
      {R"({"notificationConfig": {"a": )" + std::string(40, '[') + std::string(40, ']') + "}}",
       {},
       {},
       {"config.json", "nested deeper than 32 levels"}},
      // Found by config_fuzzer: a number beyond a double threw past the
      // parse_error handler and aborted the process.
      {R"({"retries": 1e999})", {}, {}, {"config.json is not valid JSON", "number overflow"}},
      {"",
       {{"POPQUEUE_NOTIFICATION_CONFIG", R"({"a": -1e999})"}},
       {},
       {"notificationConfig", "POPQUEUE_NOTIFICATION_CONFIG"}},
  };
  for (const Case& c : cases) {
    absl::StatusOr<Config> loaded = Load(c.file, c.env, c.flags);
    ASSERT_FALSE(loaded.ok()) << c.file << ::testing::PrintToString(c.env)
                              << ::testing::PrintToString(c.flags);
    EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument);
    for (const std::string& m : c.mentions) {
      EXPECT_THAT(loaded.status().message(), HasSubstr(m))
          << c.file << ::testing::PrintToString(c.env) << ::testing::PrintToString(c.flags);
    }
  }
}

// Whatever the configuration accepts, the library accepts.
TEST(LimitsTest, AcceptedValuesPassTheLibrarysChecks) {
  for (const char* resource :
       {"on", "cpuHigh=1,cpuLow=0.99", "decreaseFactor=0.01,increaseStep=9",
        "checkInterval=1ms,minConcurrency=1000000", "memoryHigh=0.000001,memoryLow=0.0000001"}) {
    absl::StatusOr<Config> c = Load("", {},
                                    {{"resource-limits", resource},
                                     {"queue-rate-limits", "a=0/1ms,b=1000000000/24h"},
                                     {"max-concurrency", "1000000"}});
    ASSERT_TRUE(c.ok()) << resource << ": " << c.status();
    absl::Status s = core::ValidateLimits(c->ToQueueConfig().worker);
    EXPECT_TRUE(s.ok()) << resource << ": " << s;
  }
}

}  // namespace
}  // namespace popqueue::config
