#include "common/field_error.h"

#include "absl/strings/cord.h"

namespace popqueue {
namespace {

// Debian's Abseil has its own string_view: go through std::string.
absl::string_view View(std::string_view s) { return absl::string_view(s.data(), s.size()); }

}  // namespace

absl::Status FieldError(std::string_view field, std::string_view message, absl::StatusCode code) {
  std::string text(field);
  text.append(": ").append(message);
  absl::Status s(code, text);
  s.SetPayload(View(kFieldPayloadUrl), absl::Cord(std::string(field)));
  return s;
}

std::string ErrorField(const absl::Status& status) {
  auto field = status.GetPayload(View(kFieldPayloadUrl));
  return field ? std::string(*field) : std::string();
}

absl::Status PrefixField(const absl::Status& status, std::string_view prefix) {
  if (status.ok()) return status;
  std::string field = ErrorField(status);
  std::string text(prefix);
  text.append(status.message().data(), status.message().size());
  absl::Status s(status.code(), text);
  if (!field.empty()) s.SetPayload(View(kFieldPayloadUrl), absl::Cord(std::string(prefix) + field));
  return s;
}

}  // namespace popqueue
