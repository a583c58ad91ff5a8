// A gRPC server over a Queue on a temporary SQLite file, for clients written
// in other languages (tests/grpc/remote_worker.py). Prints the bound port on
// stdout, then serves until stdin closes or SIGTERM/SIGINT arrives. Its
// Queue has one schedule ("py-nightly", nightly-report at 03:30 Paris time)
// and runs no workers.
//
//   grpc_test_server [--retries N] [--token T]
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <thread>

#include "popqueue/queue.h"
#include "server/grpc/grpc_server.h"

int main(int argc, char** argv) {
  int retries = 2;
  std::string token;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--retries" && i + 1 < argc) {
      retries = std::atoi(argv[++i]);
    } else if (arg == "--token" && i + 1 < argc) {
      token = argv[++i];
    } else {
      std::cerr << "usage: grpc_test_server [--retries N] [--token T]\n";
      return 2;
    }
  }

  // Block the stop signals in every thread (gRPC's included) and take them
  // with sigwait below; a thread watching stdin raises SIGUSR1 at EOF.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  std::string tmpl = (std::filesystem::temp_directory_path() / "popqueue-grpc-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) {
    std::perror("mkdtemp");
    return 1;
  }
  const std::string dir = tmpl;
  int rc = 0;
  {
    popqueue::QueueConfig config{.db_url = "sqlite://" + dir + "/q.db", .retries = retries};
    config.worker.handle_signals = false;
    config.worker.retry.base = absl::Milliseconds(100);
    auto queue = popqueue::Queue::Open(config);
    absl::Status defined = queue.ok() ? absl::OkStatus() : queue.status();
    if (defined.ok()) {
      // One schedule for ListSchedules (this server runs no workers: it never fires).
      popqueue::EveryOptions every{.time_zone = "Europe/Paris", .schedule_id = "py-nightly"};
      every.job.queue = "reports";
      defined = (*queue)->Every("nightly-report", "30 3 * * *", "{}", every);
    }
    if (!defined.ok()) {
      std::cerr << "opening the queue failed: " << defined << "\n";
      rc = 1;
    } else {
      auto server = popqueue::server::GrpcServer::Start(queue->get(),
                                                        {.address = "127.0.0.1:0", .token = token});
      if (!server.ok()) {
        std::cerr << "starting the server failed: " << server.status() << "\n";
        rc = 1;
      } else {
        std::cout << (*server)->port() << std::endl;
        std::thread([] {
          char buf[256];
          while (read(STDIN_FILENO, buf, sizeof(buf)) > 0) {
          }
          kill(getpid(), SIGUSR1);
        }).detach();
        int sig = 0;
        sigwait(&stop, &sig);
        (*server)->Stop();
      }
    }
  }
  std::filesystem::remove_all(dir);
  // The stdin thread may still be blocked in read(); leave without joining.
  std::fflush(stdout);
  _exit(rc);
}
