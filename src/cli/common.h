// What every popqueue subcommand shares: exit codes, error reporting, the
// connection flags, JSON output and plain-text tables.
#ifndef POPQUEUE_CLI_COMMON_H_
#define POPQUEUE_CLI_COMMON_H_

#include <cstdio>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cli/flags.h"
#include "config/config.h"
#include "nlohmann/json.hpp"
#include "popqueue/queue.h"

namespace popqueue::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // the operation failed
inline constexpr int kExitUsage = 2;    // the command line is wrong

// Prints "popqueue: <message>" and a pointer to --help on stderr; returns
// kExitUsage.
int UsageError(const FlagSet& flags, std::string_view message);
// Prints "popqueue: <what>: <status message>" on stderr; returns kExitFailure.
int Failure(std::string_view what, const absl::Status& status);
// Failure() for an operation on job `id`: "popqueue: cancel: job 7 not
// found", naming the id when the store's message does not.
int JobFailure(std::string_view command, int64_t id, const absl::Status& status);

// Declares --config, --db-url, --cache-url, --db-name and --collection.
void AddConnectionFlags(FlagSet& flags);
// Declares the flags of the configuration keys `keys` (config.json names)
// under the help section `title`, with help text from the key table (what
// it is, its key, variable and default). Keys without a flag, or whose flag
// `flags` already declares, are skipped.
void AddKeyFlags(FlagSet& flags, std::string title, std::initializer_list<std::string_view> keys);
// The worker runtime's flags: per-queue and global concurrency, rate limits,
// resource-aware limits, poll interval, lease, heartbeat, shutdown deadline
// (`worker`, and `serve` for its --demo workers).
void AddWorkerFlags(FlagSet& flags);
// Declares the flag of every configuration key that has one and that `flags`
// does not declare yet (for `popqueue config check`).
void AddAllConfigFlags(FlagSet& flags);

// The effective configuration for this command: its flags > environment >
// config.json (--config, $POPQUEUE_CONFIG or ./config.json) > defaults; see
// src/config/config.h. On an invalid value prints it (naming the key, the
// source and what was expected) and sets *exit_code to kExitUsage.
std::optional<config::Config> LoadConfigOrReport(const FlagSet& flags, int* exit_code);
// Sets the log level from logLevel and logs the configuration's notes (keys
// that lost to another, e.g. postgresUrl to dbUrl) as warnings.
void ApplyLogLevel(const config::Config& config);
// The options LoadConfigOrReport passes to config::LoadConfig.
config::LoadOptions ConfigLoadOptions(const FlagSet& flags);

// Parses `args` into `flags`. Returns an exit code when the command is done
// (help printed: 0; bad flags or wrong number of positional arguments: 2),
// nullopt when it should go on.
std::optional<int> ParseArgs(FlagSet& flags, const std::vector<std::string>& args,
                             size_t min_positional, size_t max_positional);

// Opens the queue; on failure prints the error and sets `exit_code` (2 when
// the connection settings are invalid, 1 when the store is unreachable).
std::unique_ptr<Queue> OpenQueueOrReport(const FlagSet& flags, QueueConfig config, int* exit_code);
// Loads the configuration and opens the queue it names; nullptr with
// *exit_code set on failure.
std::unique_ptr<Queue> OpenQueueOrReport(const FlagSet& flags, int* exit_code);

// A command on one job, workflow or batch: its `<id>` and the open queue.
struct IdCommand {
  int64_t id = 0;
  std::unique_ptr<Queue> queue;
};
// Adds the connection flags, parses `<id>` and opens the queue. Returns
// nullopt and sets `exit_code` when the command should end (help, a usage
// error, a queue that did not open).
std::optional<IdCommand> ParseIdCommand(FlagSet& flags, const std::vector<std::string>& args,
                                        int* exit_code);

// Compact (pretty=false) or indented JSON; invalid UTF-8 in user data is
// replaced, never thrown on.
std::string DumpJson(const nlohmann::json& value, bool pretty = true);
void PrintJson(const nlohmann::json& value);

// `text` made safe for one terminal cell: control characters escaped, invalid
// UTF-8 replaced by '?', cut to `max_chars` code points with "...".
std::string Printable(std::string_view text, size_t max_chars = 0);
// Code points in valid UTF-8 `text` (its display width, roughly).
size_t DisplayWidth(std::string_view text);

// Left-aligned columns separated by two spaces; cells must be Printable.
class Table {
 public:
  explicit Table(std::vector<std::string> header);
  void AddRow(std::vector<std::string> row);
  void Print(std::FILE* out) const;
  bool empty() const { return rows_.empty(); }

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

// "2026-01-02 15:04:05Z"-style UTC time for tables; "-" for nullopt.
std::string ShortTime(std::optional<absl::Time> t);

}  // namespace popqueue::cli

#endif  // POPQUEUE_CLI_COMMON_H_
