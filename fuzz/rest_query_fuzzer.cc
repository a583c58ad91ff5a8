// Fuzz target: REST query strings, decoded by cpp-httplib as the server does
// and then read by the job-list filter and the job-id parser
// (GET /api/jobs, /api/dead-letter, /api/job-details).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "httplib.h"
#include "server/http/request_json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string query(reinterpret_cast<const char*>(data), size);
  httplib::Params params;
  httplib::detail::parse_query_text(query, params);
  auto filter = popqueue::server::ParseJobFilter(params);
  if (filter.ok() && (filter->limit < 1 || filter->limit > 1000)) std::abort();
  for (const auto& [key, value] : params) {
    auto id = popqueue::server::ParseJobId(value, key);
    if (id.ok() && *id <= 0) std::abort();
  }
  return 0;
}
