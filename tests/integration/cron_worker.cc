// A process for cron_race_test: defines the same three every-second
// schedules as its siblings, waits for a common start instant so all of them
// race for every fire, runs its scheduler for a while, then stops.
//
//   cron_worker DB_URL COLLECTION START_UNIX_MS RUN_MS
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/time/clock.h"
#include "popqueue/queue.h"

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: cron_worker DB_URL COLLECTION START_UNIX_MS RUN_MS\n");
    return 2;
  }
  popqueue::QueueConfig config{.db_url = argv[1], .collection = argv[2]};
  config.worker.handle_signals = false;
  config.worker.queues = {"cron-race-idle"};  // leave the fired jobs in place
  config.worker.shutdown_deadline = absl::Seconds(1);
  popqueue::Queue queue(config);
  if (!queue.status().ok()) {
    std::fprintf(stderr, "cron_worker: %s\n", std::string(queue.status().message()).c_str());
    return 1;
  }
  for (const char* name : {"race-a", "race-b", "race-c"}) {
    if (absl::Status s = queue.Every(name, "* * * * * *", "{}", {.job = {.queue = "cron-race"}});
        !s.ok()) {
      std::fprintf(stderr, "cron_worker: %s\n", std::string(s.message()).c_str());
      return 1;
    }
  }
  absl::Time start = absl::FromUnixMillis(std::atoll(argv[3]));
  absl::SleepFor(start - absl::Now());
  if (!queue.StartInBackground().ok()) return 1;
  absl::SleepFor(start + absl::Milliseconds(std::atoll(argv[4])) - absl::Now());
  queue.Stop();
  return 0;
}
