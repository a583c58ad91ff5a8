#include "server/grpc/auth.h"

#include <algorithm>
#include <cctype>

#include "grpcpp/server_context.h"

namespace popqueue::server {

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  // Walk the longer input in full; fold every difference (and the length
  // mismatch) into one accumulator.
  size_t n = std::max(a.size(), b.size());
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < n; ++i) {
    unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= x ^ y;
  }
  // Keep the compiler from turning the loop into an early exit.
  volatile unsigned char result = diff;
  return result == 0;
}

absl::Status CheckBearerToken(const grpc::ServerContext& context, const std::string& token) {
  if (token.empty()) return absl::OkStatus();
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) {
    return absl::UnauthenticatedError(
        "this call needs the metadata \"authorization: Bearer <token>\"");
  }
  std::string_view value(it->second.data(), it->second.size());
  constexpr std::string_view kScheme = "Bearer ";
  if (value.size() < kScheme.size() ||
      !std::equal(kScheme.begin(), kScheme.end(), value.begin(),
                  [](char a, char b) { return std::tolower(a) == std::tolower(b); })) {
    return absl::UnauthenticatedError("authorization metadata must be \"Bearer <token>\"");
  }
  if (!ConstantTimeEquals(value.substr(kScheme.size()), token)) {
    return absl::UnauthenticatedError("invalid token");
  }
  return absl::OkStatus();
}

}  // namespace popqueue::server
