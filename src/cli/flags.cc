#include "cli/flags.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"

namespace popqueue::cli {

FlagSet::FlagSet(std::string command, std::string usage, std::string description)
    : command_(std::move(command)),
      usage_(std::move(usage)),
      description_(std::move(description)) {}

void FlagSet::AddValue(std::string name, std::string value_name, std::string help,
                       bool repeatable) {
  specs_.push_back(Spec{.name = std::move(name),
                        .value_name = std::move(value_name),
                        .help = std::move(help),
                        .repeatable = repeatable,
                        .section = static_cast<int>(sections_.size()) - 1});
}

void FlagSet::AddBool(std::string name, std::string help) {
  specs_.push_back(Spec{.name = std::move(name),
                        .help = std::move(help),
                        .section = static_cast<int>(sections_.size()) - 1});
}

void FlagSet::AddSection(std::string title) { sections_.push_back(std::move(title)); }

const FlagSet::Spec* FlagSet::Find(std::string_view name) const {
  for (const Spec& s : specs_) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

bool FlagSet::LooksLikeFlag(std::string_view arg) const {
  if (arg.size() < 3 || arg.substr(0, 2) != "--") return false;
  std::string_view name = arg.substr(2, arg.find('=') - 2);
  return name == "help" || Find(name) != nullptr;
}

absl::Status FlagSet::Parse(const std::vector<std::string>& args) {
  bool flags_done = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (flags_done || arg == "-" || arg.empty() || arg[0] != '-') {
      positional_.push_back(arg);
      continue;
    }
    if (arg == "--") {
      flags_done = true;
      continue;
    }
    if (arg == "-h" || arg == "--help") {
      help_ = true;
      continue;
    }
    if (arg.size() < 3 || arg[1] != '-') {
      return absl::InvalidArgumentError(absl::StrFormat(
          "unknown flag %s for 'popqueue %s' (flags are spelled --name)", arg, command_));
    }
    std::string_view body = std::string_view(arg).substr(2);
    std::optional<std::string> inline_value;
    if (size_t eq = body.find('='); eq != std::string_view::npos) {
      inline_value = std::string(body.substr(eq + 1));
      body = body.substr(0, eq);
    }
    if (body == "help") {
      help_ = true;
      continue;
    }
    const Spec* spec = Find(body);
    if (spec == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrFormat("unknown flag --%s for 'popqueue %s'", body, command_));
    }
    std::string value;
    if (spec->value_name.empty()) {  // boolean
      value = inline_value.value_or("true");
      if (value != "true" && value != "false") {
        return absl::InvalidArgumentError(
            absl::StrFormat("invalid value \"%s\" for --%s: expected true or false", value, body));
      }
    } else if (inline_value) {
      value = *inline_value;
    } else if (i + 1 < args.size() && !LooksLikeFlag(args[i + 1])) {
      value = args[++i];
    } else {
      return absl::InvalidArgumentError(
          absl::StrFormat("flag --%s needs a value (%s)", body, spec->value_name));
    }
    std::vector<std::string>& slot = values_[spec->name];
    if (!spec->repeatable) slot.clear();
    slot.push_back(std::move(value));
  }
  return absl::OkStatus();
}

bool FlagSet::Has(std::string_view name) const { return values_.find(name) != values_.end(); }

std::optional<std::string> FlagSet::Get(std::string_view name) const {
  auto it = values_.find(name);
  if (it == values_.end() || it->second.empty()) return std::nullopt;
  return it->second.back();
}

std::vector<std::string> FlagSet::GetAll(std::string_view name) const {
  auto it = values_.find(name);
  return it == values_.end() ? std::vector<std::string>{} : it->second;
}

bool FlagSet::GetBool(std::string_view name) const {
  std::optional<std::string> v = Get(name);
  return v && *v == "true";
}

absl::StatusOr<std::optional<int64_t>> FlagSet::GetInt(std::string_view name, int64_t min,
                                                       int64_t max) const {
  std::optional<std::string> text = Get(name);
  if (!text) return std::optional<int64_t>();
  int64_t value = 0;
  if (!absl::SimpleAtoi(absl::string_view(*text), &value) || value < min || value > max) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "invalid value \"%s\" for --%s: expected an integer from %d to %d", *text, name, min, max));
  }
  return std::optional<int64_t>(value);
}

absl::StatusOr<std::optional<absl::Duration>> FlagSet::GetDuration(std::string_view name) const {
  std::optional<std::string> text = Get(name);
  if (!text) return std::optional<absl::Duration>();
  absl::Duration d;
  if (!absl::ParseDuration(*text, &d) || d < absl::ZeroDuration() ||
      d == absl::InfiniteDuration()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("invalid value \"%s\" for --%s: expected a duration such as 500ms, "
                        "30s, 5m or 1h",
                        *text, name));
  }
  return std::optional<absl::Duration>(d);
}

namespace {

// "  --flag VALUE  help text" with the help wrapped at 80 columns under
// itself.
void AppendFlagLine(std::string* out, size_t width, const std::string& left,
                    const std::string& help) {
  constexpr size_t kColumns = 80;
  const size_t indent = 2 + width + 2;
  absl::StrAppendFormat(out, "  %-*s  ", static_cast<int>(width), left);
  size_t col = indent;
  size_t i = 0;
  while (i < help.size()) {
    size_t end = help.find(' ', i);
    if (end == std::string::npos) end = help.size();
    size_t len = end - i;
    if (col > indent && col + 1 + len > kColumns) {
      *out += "\n" + std::string(indent, ' ');
      col = indent;
    } else if (col > indent) {
      *out += ' ';
      ++col;
    }
    out->append(help, i, len);
    col += len;
    i = end + 1;
  }
  *out += '\n';
}

}  // namespace

std::string FlagSet::Help() const {
  std::string out =
      absl::StrFormat("Usage: popqueue %s %s\n\n%s\n", command_, usage_, description_);
  size_t width = 6;  // "--help"
  for (const Spec& s : specs_) {
    size_t w = s.name.size() + 2 + (s.value_name.empty() ? 0 : s.value_name.size() + 1);
    width = std::max(width, w);
  }
  for (size_t section = 0; section < sections_.size(); ++section) {
    bool first = section != 0;  // "Flags:" is always shown: it has --help
    if (section == 0) out += "\nFlags:\n";
    for (const Spec& s : specs_) {
      if (s.section != static_cast<int>(section)) continue;
      if (first) {
        absl::StrAppendFormat(&out, "\n%s:\n", sections_[section]);
        first = false;
      }
      std::string left = "--" + s.name;
      if (!s.value_name.empty()) left += " " + s.value_name;
      AppendFlagLine(&out, width, left, s.help);
    }
    if (section == 0) AppendFlagLine(&out, width, "--help", "show this help");
  }
  return out;
}

absl::StatusOr<int64_t> ParseJobId(std::string_view what, std::string_view text) {
  int64_t id = 0;
  if (!absl::SimpleAtoi(absl::string_view(text.data(), text.size()), &id) || id <= 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("invalid %s \"%s\": expected a positive numeric job id", what, text));
  }
  return id;
}

std::vector<std::string> SplitList(std::string_view text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string_view::npos) end = text.size();
    std::string item(text.substr(start, end - start));
    absl::StripAsciiWhitespace(&item);
    if (!item.empty()) out.push_back(std::move(item));
    start = end + 1;
  }
  return out;
}

}  // namespace popqueue::cli
