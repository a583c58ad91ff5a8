// Fuzz target: REST request bodies (src/server/http/request_json.h), exactly
// as POST /api/jobs, /api/jobs/batch and /api/requeue-job parse them.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "server/http/request_json.h"

using popqueue::server::DumpJson;
using popqueue::server::JobIdFromJson;
using popqueue::server::ParseEnqueueRequest;
using popqueue::server::ParseJsonObject;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string body(reinterpret_cast<const char*>(data), size);
  auto parsed = ParseJsonObject(body);
  if (!parsed.ok()) {
    if (parsed.status().message().rfind("body: ", 0) != 0) std::abort();
    return 0;
  }
  const nlohmann::json& object = *parsed;
  // POST /api/jobs
  auto request = ParseEnqueueRequest(object, "");
  if (request.ok() && request->name.empty()) std::abort();
  // POST /api/requeue-job
  if (auto it = object.find("jobId"); it != object.end()) {
    auto id = JobIdFromJson(*it, "jobId");
    if (id.ok() && *id <= 0) std::abort();
  }
  // POST /api/jobs/batch
  if (auto it = object.find("jobs"); it != object.end() && it->is_array()) {
    for (size_t i = 0; i < it->size() && i < 50; ++i) {
      (void)ParseEnqueueRequest((*it)[i], absl::StrCat("jobs[", i, "]."));
    }
  }
  // Replies echo stored data: dumping never throws, even on odd strings.
  (void)DumpJson(object);
  return 0;
}
