// popqueue config check: prints the effective configuration, where each value
// came from, and the job store and coordinator it resolves to, with secrets
// redacted. Exits 2 with the first invalid value otherwise.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "config/keys.h"
#include "config/redact.h"

namespace popqueue::cli {
namespace {

std::string SourceText(const config::Setting& s) {
  switch (s.source) {
    case config::Source::kFlag: return "flag " + s.origin;
    case config::Source::kEnv: return "env " + s.origin;
    case config::Source::kFile: return "config.json";
    case config::Source::kDefault: return "default";
  }
  return s.origin;
}

void PrintText(const config::Config& c) {
  std::string head;
  absl::StrAppendFormat(
      &head, "config file:  %s\n",
      c.file().empty() ? "none (no --config, POPQUEUE_CONFIG or ./config.json)" : c.file());
  absl::StrAppendFormat(&head, "job store:    %s (from %s)\n",
                        Printable(config::RedactUrl(c.db_url())), c.db_url_key());
  if (c.cache_url().empty()) {
    head += "coordinator:  none\n";
  } else {
    absl::StrAppendFormat(&head, "coordinator:  %s (from %s)\n",
                          Printable(config::RedactUrl(c.cache_url())), c.cache_url_key());
  }
  for (const std::string& note : c.notes()) {
    absl::StrAppendFormat(&head, "note:         %s\n", note);
  }
  head += "\n";
  std::fputs(head.c_str(), stdout);

  Table table({"KEY", "VALUE", "SOURCE"});
  for (const config::KeySpec& spec : config::AllKeys()) {
    const config::Setting* s = c.Get(spec.key);
    if (s == nullptr) {
      table.AddRow({std::string(spec.key), "-", "unset"});
      continue;
    }
    table.AddRow({std::string(spec.key), Printable(config::RedactedText(spec, s->value), 70),
                  SourceText(*s)});
  }
  table.Print(stdout);
}

}  // namespace

int RunConfig(const Args& args) {
  FlagSet flags("config", "check [flags]",
                "check: loads the configuration as `serve` and `worker` would and "
                "prints every key\nwith its effective value and its source (flag, env, "
                "config.json or default),\nsecrets redacted, then the job store and "
                "coordinator it resolves to. Exits 2\nnaming the key when a value is "
                "invalid. Precedence: flags > environment >\nconfig.json > defaults; "
                "see docs/configuration.md.");
  flags.AddBool("json", "print the report as JSON");
  AddConnectionFlags(flags);
  AddAllConfigFlags(flags);
  if (std::optional<int> done = ParseArgs(flags, args, 1, 1)) return *done;
  if (flags.positional()[0] != "check") {
    return UsageError(flags, absl::StrFormat("unknown config command \"%s\"; expected "
                                             "\"check\"",
                                             Printable(flags.positional()[0], 40)));
  }
  int exit_code = kExitOk;
  std::optional<config::Config> loaded = LoadConfigOrReport(flags, &exit_code);
  if (!loaded) return exit_code;
  if (flags.GetBool("json")) {
    PrintJson(loaded->ToRedactedJson());
  } else {
    PrintText(*loaded);
  }
  return kExitOk;
}

}  // namespace popqueue::cli
