#include "cli/common.h"

#include <algorithm>
#include <cstdlib>
#include <utility>

#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "cli/notifications.h"
#include "common/log.h"
#include "common/url.h"
#include "config/keys.h"

namespace popqueue::cli {

int UsageError(const FlagSet& flags, std::string_view message) {
  std::fprintf(stderr, "popqueue: %.*s\nRun 'popqueue %s --help' for usage.\n",
               static_cast<int>(message.size()), message.data(), flags.command().c_str());
  return kExitUsage;
}

int Failure(std::string_view what, const absl::Status& status) {
  std::string message(status.message());
  if (message.empty()) message = absl::StatusCodeToString(status.code());
  std::fprintf(stderr, "popqueue: %.*s: %s\n", static_cast<int>(what.size()), what.data(),
               message.c_str());
  return kExitFailure;
}

int JobFailure(std::string_view command, int64_t id, const absl::Status& status) {
  std::string id_text = absl::StrFormat("%d", id);
  if (absl::string_view(status.message()).find(id_text) != absl::string_view::npos) {
    return Failure(command, status);
  }
  return Failure(absl::StrFormat("%s %s", command, id_text), status);
}

void AddConnectionFlags(FlagSet& flags) {
  flags.AddSection("Connection flags (flag > environment > config.json > default)");
  flags.AddValue("config", "FILE",
                 "config.json to read (env POPQUEUE_CONFIG; default "
                 "./config.json when it exists)");
  flags.AddValue("db-url", "URL",
                 "job store: sqlite://PATH, postgres://..., mongodb://..., "
                 "redis://... (env DB_URL; key dbUrl; default "
                 "sqlite://./popqueue.db)");
  flags.AddValue("cache-url", "URL",
                 "coordinator: redis://... or memcached://... (env "
                 "POPQUEUE_CACHE_URL, REDIS_URL or MEMCACHED_URL; default "
                 "none)");
  flags.AddValue("db-name", "NAME", "database name (env POPQUEUE_DB_NAME; default popqueue)");
  flags.AddValue("collection", "NAME",
                 "table / collection / key prefix (env POPQUEUE_COLLECTION; "
                 "default jobs)");
}

namespace {

// How --help shows the value of `spec`'s flag.
std::string ValueName(const config::KeySpec& spec) {
  switch (spec.type) {
    case config::ValueType::kInt: return "N";
    case config::ValueType::kDuration: return "DURATION";
    case config::ValueType::kUrl: return "URL";
    case config::ValueType::kList: return "A,B";
    case config::ValueType::kEnum: return "LEVEL";
    case config::ValueType::kCountMap: return "QUEUE=N,...";
    case config::ValueType::kRateLimits: return "NAME=N/PERIOD,...";
    case config::ValueType::kResourceLimits: return "on|off|FIELD=V,...";
    default: return "VALUE";
  }
}

void DeclareKeyFlag(FlagSet& flags, const config::KeySpec& spec) {
  std::string help = absl::StrFormat("%s (key %s", spec.help, spec.key);
  if (!spec.env.empty()) absl::StrAppendFormat(&help, "; env %s", spec.env);
  if (!spec.default_text.empty() && spec.type != config::ValueType::kBool) {
    absl::StrAppendFormat(&help, "; default %s", spec.default_text);
  }
  help += ")";
  if (spec.type == config::ValueType::kBool) {
    flags.AddBool(std::string(spec.flag), help);
  } else {
    flags.AddValue(std::string(spec.flag), ValueName(spec), help);
  }
}

}  // namespace

void AddKeyFlags(FlagSet& flags, std::string title, std::initializer_list<std::string_view> keys) {
  bool section = false;
  for (std::string_view key : keys) {
    const config::KeySpec* spec = config::FindKey(key);
    if (spec == nullptr || spec->flag.empty() || flags.Declares(spec->flag)) {
      continue;
    }
    if (!section) {
      flags.AddSection(title);
      section = true;
    }
    DeclareKeyFlag(flags, *spec);
  }
}

void AddWorkerFlags(FlagSet& flags) {
  namespace key = config::key;
  AddKeyFlags(
      flags, "Worker limit flags (see docs/concurrency.md)",
      {key::kQueueConcurrency, key::kMaxConcurrency, key::kQueueRateLimits, key::kJobRateLimits,
       key::kMaxHeldJobs, key::kMaxPrefetch, key::kResourceLimits, key::kPollInterval,
       key::kLeaseDuration, key::kHeartbeatInterval, key::kShutdownDeadline, key::kStopGrace});
}

void AddAllConfigFlags(FlagSet& flags) {
  bool section = false;
  for (const config::KeySpec& spec : config::AllKeys()) {
    if (spec.flag.empty() || flags.Declares(spec.flag)) continue;
    if (!section) {
      flags.AddSection("Configuration flags");
      section = true;
    }
    DeclareKeyFlag(flags, spec);
  }
}

config::LoadOptions ConfigLoadOptions(const FlagSet& flags) {
  config::LoadOptions options;
  options.config_path = flags.Get("config").value_or("");
  options.env = config::ProcessEnvironment();
  for (const config::KeySpec& spec : config::AllKeys()) {
    if (spec.flag.empty()) continue;
    if (std::optional<std::string> v = flags.Get(spec.flag)) {
      options.flags[std::string(spec.flag)] = *v;
    }
  }
  options.validate_notifications = NotificationValidator();
  return options;
}

void ApplyLogLevel(const config::Config& config) {
  std::string level = config.GetString(config::key::kLogLevel);
  SetLogLevel(level == "debug"   ? LogLevel::kDebug
              : level == "warn"  ? LogLevel::kWarn
              : level == "error" ? LogLevel::kError
                                 : LogLevel::kInfo);
  for (const std::string& note : config.notes()) {
    Logf(LogLevel::kWarn, "configuration: %s", note);
  }
}

std::optional<config::Config> LoadConfigOrReport(const FlagSet& flags, int* exit_code) {
  absl::StatusOr<config::Config> loaded = config::LoadConfig(ConfigLoadOptions(flags));
  if (!loaded.ok()) {
    *exit_code = UsageError(flags, absl::StrFormat("configuration: %s", loaded.status().message()));
    return std::nullopt;
  }
  return *std::move(loaded);
}

std::optional<int> ParseArgs(FlagSet& flags, const std::vector<std::string>& args,
                             size_t min_positional, size_t max_positional) {
  absl::Status parsed = flags.Parse(args);
  if (flags.help_requested()) {
    std::fputs(flags.Help().c_str(), stdout);
    return kExitOk;
  }
  if (!parsed.ok()) return UsageError(flags, std::string(parsed.message()));
  size_t n = flags.positional().size();
  if (n < min_positional) {
    return UsageError(flags, absl::StrFormat("missing argument; usage: "
                                             "popqueue %s %s",
                                             flags.command(), flags.usage()));
  }
  if (n > max_positional) {
    return UsageError(flags, absl::StrFormat("unexpected argument \"%s\"; usage: popqueue %s %s",
                                             Printable(flags.positional()[max_positional], 60),
                                             flags.command(), flags.usage()));
  }
  return std::nullopt;
}

std::unique_ptr<Queue> OpenQueueOrReport(const FlagSet& flags, QueueConfig config, int* exit_code) {
  // Catch a malformed URL here so the message names the flag.
  if (absl::StatusOr<Url> url = ParseUrl(config.db_url); !url.ok()) {
    *exit_code = UsageError(flags, absl::StrFormat("invalid --db-url: %s", url.status().message()));
    return nullptr;
  }
  if (!config.cache_url.empty()) {
    if (absl::StatusOr<Url> url = ParseUrl(config.cache_url); !url.ok()) {
      *exit_code =
          UsageError(flags, absl::StrFormat("invalid --cache-url: %s", url.status().message()));
      return nullptr;
    }
  }
  absl::StatusOr<std::unique_ptr<Queue>> queue = Queue::Open(std::move(config));
  if (!queue.ok()) {
    if (queue.status().code() == absl::StatusCode::kInvalidArgument) {
      *exit_code = UsageError(
          flags, absl::StrFormat("cannot open the job store: %s", queue.status().message()));
    } else {
      *exit_code = Failure("cannot open the job store", queue.status());
    }
    return nullptr;
  }
  return *std::move(queue);
}

std::unique_ptr<Queue> OpenQueueOrReport(const FlagSet& flags, int* exit_code) {
  std::optional<config::Config> loaded = LoadConfigOrReport(flags, exit_code);
  if (!loaded) return nullptr;
  return OpenQueueOrReport(flags, loaded->ToQueueConfig(), exit_code);
}

std::optional<IdCommand> ParseIdCommand(FlagSet& flags, const std::vector<std::string>& args,
                                        int* exit_code) {
  AddConnectionFlags(flags);
  if (std::optional<int> done = ParseArgs(flags, args, 1, 1)) {
    *exit_code = *done;
    return std::nullopt;
  }
  absl::StatusOr<int64_t> id = ParseJobId("<id>", flags.positional()[0]);
  if (!id.ok()) {
    *exit_code = UsageError(flags, std::string(id.status().message()));
    return std::nullopt;
  }
  IdCommand out{.id = *id};
  out.queue = OpenQueueOrReport(flags, exit_code);
  if (out.queue == nullptr) return std::nullopt;
  return out;
}

std::string DumpJson(const nlohmann::json& value, bool pretty) {
  return value.dump(pretty ? 2 : -1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void PrintJson(const nlohmann::json& value) {
  std::string text = DumpJson(value);
  text += '\n';
  std::fputs(text.c_str(), stdout);
}

namespace {

// Length of the valid UTF-8 sequence at the start of `s`, 0 when invalid.
size_t Utf8SequenceLength(std::string_view s) {
  auto byte = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  unsigned char c = byte(0);
  size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
  if (len == 0 || len > s.size()) return 0;
  for (size_t i = 1; i < len; ++i) {
    if ((byte(i) & 0xC0) != 0x80) return 0;
  }
  return len;
}

}  // namespace

std::string Printable(std::string_view text, size_t max_chars) {
  std::string out;
  size_t chars = 0;
  size_t i = 0;
  while (i < text.size()) {
    if (max_chars > 0 && chars >= max_chars) {
      out += "...";
      return out;
    }
    size_t len = Utf8SequenceLength(text.substr(i));
    if (len == 0) {
      out += '?';
      ++i;
    } else if (len == 1) {
      char c = text[i];
      if (c == '\n') {
        out += "\\n";
      } else if (c == '\t') {
        out += "\\t";
      } else if (c == '\r') {
        out += "\\r";
      } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
        out += '?';
      } else {
        out += c;
      }
      ++i;
    } else {
      out.append(text.substr(i, len));
      i += len;
    }
    ++chars;
  }
  return out;
}

size_t DisplayWidth(std::string_view text) {
  size_t n = 0;
  for (char c : text) {
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
  }
  return n;
}

Table::Table(std::vector<std::string> header) : header_(std::move(header)) {}

void Table::AddRow(std::vector<std::string> row) {
  row.resize(header_.size());
  rows_.push_back(std::move(row));
}

void Table::Print(std::FILE* out) const {
  std::vector<size_t> width(header_.size());
  for (size_t c = 0; c < header_.size(); ++c) {
    width[c] = DisplayWidth(header_[c]);
    for (const auto& row : rows_) {
      width[c] = std::max(width[c], DisplayWidth(row[c]));
    }
  }
  auto print_row = [&](const std::vector<std::string>& row) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      line += row[c];
      if (c + 1 < row.size()) {
        line.append(width[c] - DisplayWidth(row[c]) + 2, ' ');
      }
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    line += '\n';
    std::fputs(line.c_str(), out);
  };
  print_row(header_);
  for (const auto& row : rows_) print_row(row);
}

std::string ShortTime(std::optional<absl::Time> t) {
  if (!t) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%SZ", *t, absl::UTCTimeZone());
}

}  // namespace popqueue::cli
