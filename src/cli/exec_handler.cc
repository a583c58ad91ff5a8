#include "cli/exec_handler.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <string_view>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/errno_text.h"
#include "common/job_json.h"

extern char** environ;

namespace popqueue::cli {
namespace {

constexpr size_t kMaxCapture = 64 * 1024;
// Without a stop deadline from the worker: SIGKILL this long after SIGTERM.
constexpr absl::Duration kKillGrace = absl::Seconds(5);
// SIGKILL this long before the worker's stop deadline, so the command is
// gone (and reaped) before the worker gives up on it.
constexpr absl::Duration kKillMargin = absl::Milliseconds(300);

// Closes the descriptors it holds.
struct Fd {
  int fd = -1;
  ~Fd() { Close(); }
  void Close() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

std::vector<std::string> ChildEnvironment(const Job& job) {
  std::vector<std::string> env;
  const bool traced = job.metadata.count(std::string(kTraceparentKey)) > 0;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view var(*e);
    if (var.rfind("POPQUEUE_JOB_", 0) == 0) continue;
    // The job's trace context replaces the worker's own.
    if (traced && (var.rfind("TRACEPARENT=", 0) == 0 || var.rfind("TRACESTATE=", 0) == 0)) continue;
    env.push_back(*e);
  }
  env.push_back(absl::StrFormat("POPQUEUE_JOB_ID=%d", job.id));
  env.push_back("POPQUEUE_JOB_NAME=" + job.name);
  env.push_back("POPQUEUE_JOB_QUEUE=" + job.queue);
  env.push_back("POPQUEUE_JOB_IDENTIFIER=" + job.identifier);
  env.push_back(absl::StrFormat("POPQUEUE_JOB_ATTEMPT=%d", job.attempt));
  env.push_back(absl::StrFormat("POPQUEUE_JOB_MAX_ATTEMPTS=%d", job.max_attempts));
  // The metadata as JSON ("{}" for none), and the trace context in the
  // variables OpenTelemetry's environment carrier reads.
  env.push_back(
      "POPQUEUE_JOB_METADATA=" +
      MetadataToJson(job.metadata).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  for (const char* key : {"traceparent", "tracestate"}) {
    auto it = job.metadata.find(key);
    if (it == job.metadata.end()) continue;
    std::string name = key;
    for (char& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    env.push_back(name + "=" + it->second);
  }
  return env;
}

// The last line(s) of a command's stderr, for the job's error message.
std::string Tail(const std::string& text) {
  std::string_view t = text;
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.remove_suffix(1);
  constexpr size_t kMax = 500;
  if (t.size() > kMax) t = t.substr(t.size() - kMax);
  return std::string(t);
}

absl::Status RunCommand(const std::string& command, JobContext& ctx) {
  const Job& job = ctx.job();
  int in_pipe[2], out_pipe[2], err_pipe[2];
  if (::pipe2(in_pipe, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrFormat("pipe: %s", ErrnoText(errno)));
  }
  Fd in_r{in_pipe[0]}, in_w{in_pipe[1]};
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrFormat("pipe: %s", ErrnoText(errno)));
  }
  Fd out_r{out_pipe[0]}, out_w{out_pipe[1]};
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrFormat("pipe: %s", ErrnoText(errno)));
  }
  Fd err_r{err_pipe[0]}, err_w{err_pipe[1]};

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_r.fd, 0);
  posix_spawn_file_actions_adddup2(&actions, out_w.fd, 1);
  posix_spawn_file_actions_adddup2(&actions, err_w.fd, 2);
  // Its own process group, so a stop reaches the command's children too.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  std::vector<std::string> env = ChildEnvironment(job);
  std::vector<char*> envp;
  for (std::string& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::string sh = "/bin/sh", dash_c = "-c", cmd = command;
  char* argv[] = {sh.data(), dash_c.data(), cmd.data(), nullptr};
  pid_t pid = 0;
  int rc = posix_spawn(&pid, "/bin/sh", &actions, &attr, argv, envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    return absl::InternalError(absl::StrFormat("cannot start /bin/sh: %s", ErrnoText(rc)));
  }
  in_r.Close();
  out_w.Close();
  err_w.Close();
  for (int fd : {in_w.fd, out_r.fd, err_r.fd}) ::fcntl(fd, F_SETFL, O_NONBLOCK);

  // Feed stdin and drain stdout/stderr together so no pipe fills up, until
  // the command exits. (Its background children may keep the pipes open, so
  // end-of-file is not the signal.)
  std::string_view to_write = job.data;
  if (to_write.empty()) in_w.Close();
  std::string out, err;
  std::optional<absl::Time> killed_at;
  bool sigkilled = false;
  char buf[8192];
  auto drain = [&](Fd& f, std::string& sink) {
    while (f.fd >= 0) {
      ssize_t r = ::read(f.fd, buf, sizeof buf);
      if (r > 0) {
        size_t room = kMaxCapture - std::min(kMaxCapture, sink.size());
        sink.append(buf, std::min(static_cast<size_t>(r), room));
      } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
        f.Close();
      } else {
        return;  // nothing more for now
      }
    }
  };
  int status = 0;
  bool exited = false;
  while (!exited) {
    pollfd fds[3];
    int n = 0;
    for (Fd* f : {&out_r, &err_r}) {
      if (f->fd >= 0) fds[n++] = {f->fd, POLLIN, 0};
    }
    if (in_w.fd >= 0) fds[n++] = {in_w.fd, POLLOUT, 0};
    // With every pipe closed, poll() just waits for the next check.
    if (::poll(fds, n, 50) < 0 && errno != EINTR) break;
    if (in_w.fd >= 0 && !to_write.empty()) {
      ssize_t w = ::write(in_w.fd, to_write.data(), to_write.size());
      if (w > 0) to_write.remove_prefix(static_cast<size_t>(w));
      if (w < 0 && errno != EAGAIN && errno != EINTR) to_write = {};  // EPIPE
      if (to_write.empty()) in_w.Close();
    }
    drain(out_r, out);
    drain(err_r, err);
    pid_t w = ::waitpid(pid, &status, WNOHANG);
    if (w == pid || (w < 0 && errno != EINTR)) exited = true;
    if (!exited && ctx.cancelled()) {
      const absl::Time now = absl::Now();
      if (!killed_at) {
        ::kill(-pid, SIGTERM);
        killed_at = now;
      }
      absl::Time kill_at = ctx.stop_deadline() == absl::InfiniteFuture()
                               ? *killed_at + kKillGrace
                               : ctx.stop_deadline() - kKillMargin;
      if (!sigkilled && now >= kill_at) {
        ::kill(-pid, SIGKILL);
        sigkilled = true;
      }
    }
  }
  drain(out_r, out);
  drain(err_r, err);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    ctx.SetResult(std::move(out));
    return absl::OkStatus();
  }
  std::string why = WIFEXITED(status) ? absl::StrFormat("exit status %d", WEXITSTATUS(status))
                                      : absl::StrFormat("killed by signal %d", WTERMSIG(status));
  if (killed_at) return absl::CancelledError("stopped: " + why);
  std::string tail = Tail(err);
  if (WIFEXITED(status)) {
    switch (WEXITSTATUS(status)) {
      case kExitSnooze: {
        // The delay is the first line of stdout: "90", "90s", "5m", "1h30m".
        std::string text = out.substr(0, std::min(out.find('\n'), out.size()));
        absl::StripAsciiWhitespace(&text);
        absl::Duration delay;
        double seconds = 0;
        if (absl::SimpleAtod(text, &seconds) && std::isfinite(seconds)) {
          delay = absl::Seconds(seconds);
        } else if (!absl::ParseDuration(text, &delay)) {
          return absl::UnknownError(absl::StrFormat(
              "exit status %d asks for a snooze, but stdout's first line \"%s\" is not a delay "
              "(seconds, or a duration like 90s, 5m, 1h30m)",
              kExitSnooze, absl::CHexEscape(text.substr(0, 80))));
        }
        if (delay < absl::ZeroDuration()) {
          return absl::UnknownError(
              absl::StrFormat("exit status %d asks for a snooze, but the delay %s is negative",
                              kExitSnooze, absl::FormatDuration(delay)));
        }
        return Snooze(delay);
      }
      case kExitDiscard: return Discard(tail);
      case kExitFailWithoutRetry: return FailWithoutRetry(tail.empty() ? why : why + ": " + tail);
      default: break;
    }
  }
  return absl::UnknownError(tail.empty() ? why : why + ": " + tail);
}

}  // namespace

ContextHandler ExecHandler(std::string command) {
  return [command = std::move(command)](JobContext& ctx) { return RunCommand(command, ctx); };
}

}  // namespace popqueue::cli
