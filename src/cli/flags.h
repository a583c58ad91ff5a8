// A small flag parser for the popqueue subcommands.
//
// Accepted forms: `--flag value`, `--flag=value`, and for booleans `--flag`
// (or `--flag=true|false`). `--help`/`-h` anywhere asks for help; `--` ends
// flags. Flags and positional arguments may be interleaved. A value flag takes
// the next argument unless that is one of the command's own flags (so
// `--priority -5` and `--data -` work, and `--data --json` is an error; write
// `--data=--json` for that value). Parse errors are InvalidArgument with a
// message that names the flag; the caller turns them into usage errors (exit
// 2).
#ifndef POPQUEUE_CLI_FLAGS_H_
#define POPQUEUE_CLI_FLAGS_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace popqueue::cli {

class FlagSet {
 public:
  // `command` is e.g. "enqueue"; `usage` the synopsis after "popqueue
  // <command>"; `description` one or more paragraphs for --help.
  FlagSet(std::string command, std::string usage, std::string description);

  // Declares a flag taking a value, shown as `--name VALUE_NAME` in help.
  // A repeatable flag keeps every value (GetAll); otherwise the last wins.
  void AddValue(std::string name, std::string value_name, std::string help,
                bool repeatable = false);
  void AddBool(std::string name, std::string help);
  // Starts a new group of flags in the help text ("Connection flags").
  void AddSection(std::string title);

  absl::Status Parse(const std::vector<std::string>& args);

  bool help_requested() const { return help_; }
  const std::string& command() const { return command_; }
  const std::string& usage() const { return usage_; }
  const std::vector<std::string>& positional() const { return positional_; }

  bool Has(std::string_view name) const;
  // True when `name` was declared with AddValue or AddBool.
  bool Declares(std::string_view name) const { return Find(name) != nullptr; }
  // The last value given, or nullopt when the flag was not passed.
  std::optional<std::string> Get(std::string_view name) const;
  std::vector<std::string> GetAll(std::string_view name) const;
  bool GetBool(std::string_view name) const;

  // Typed accessors: nullopt when absent; InvalidArgument naming the flag and
  // what was expected when the value is malformed or out of [min, max].
  absl::StatusOr<std::optional<int64_t>> GetInt(std::string_view name, int64_t min,
                                                int64_t max) const;
  // A non-negative duration such as 300ms, 30s, 5m, 1h or 1h30m.
  absl::StatusOr<std::optional<absl::Duration>> GetDuration(std::string_view name) const;

  // The full --help text.
  std::string Help() const;

 private:
  struct Spec {
    std::string name;
    std::string value_name;  // "" for booleans
    std::string help;
    bool repeatable = false;
    int section = 0;
  };
  const Spec* Find(std::string_view name) const;
  // True for "--help" and "--name[=...]" of a declared flag.
  bool LooksLikeFlag(std::string_view arg) const;

  std::string command_;
  std::string usage_;
  std::string description_;
  std::vector<std::string> sections_{"Flags"};
  std::vector<Spec> specs_;
  std::map<std::string, std::vector<std::string>, std::less<>> values_;
  std::vector<std::string> positional_;
  bool help_ = false;
};

// Parses a job id given as positional argument `what` (e.g. "<id>").
absl::StatusOr<int64_t> ParseJobId(std::string_view what, std::string_view text);

// Splits "a,b,,c" into {"a","b","c"} (empty items dropped, spaces trimmed).
std::vector<std::string> SplitList(std::string_view text);

}  // namespace popqueue::cli

#endif  // POPQUEUE_CLI_FLAGS_H_
