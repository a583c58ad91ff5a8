// A C++ worker built into its own image FROM popqueue-dev (see Dockerfile
// here and docs/deploy.md, "A C++ worker image"). It handles jobs named
// "reverse" (the result is the data reversed) on the store DB_URL names,
// with the cache/coordinator of REDIS_URL or MEMCACHED_URL if set, until
// SIGTERM, then drains gracefully.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "popqueue/queue.h"

namespace {
std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? "" : v;
}
}  // namespace

int main() {
  std::string db_url = Env("DB_URL");
  if (db_url.empty()) {
    std::fprintf(stderr, "set DB_URL (e.g. postgres://user:pass@host:5432/db)\n");
    return 2;
  }
  std::string cache_url = Env("REDIS_URL");
  if (cache_url.empty()) cache_url = Env("MEMCACHED_URL");
  popqueue::Queue queue(db_url, cache_url, "", "jobs", 3);
  if (!queue.status().ok()) {
    std::fprintf(stderr, "open: %s\n", std::string(queue.status().message()).c_str());
    return 1;
  }
  absl::Status s = queue.Define("reverse", [](popqueue::JobContext& ctx) {
    std::string out(ctx.job().data.rbegin(), ctx.job().data.rend());
    ctx.SetResult(out);
    return absl::OkStatus();
  });
  if (s.ok()) {
    std::fprintf(stderr, "docker-worker: handling \"reverse\" jobs until SIGTERM\n");
    s = queue.Start();  // blocks; SIGTERM drains and returns
  }
  if (!s.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  std::fprintf(stderr, "docker-worker: stopped\n");
  return 0;
}
