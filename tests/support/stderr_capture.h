// Captures what this process writes to stderr (the logger's output) into a
// file while alive; text() stops the capture and returns it.
//
//   StderrCapture capture(dir.path() + "/stderr.log");
//   ... calls that log ...
//   std::string log = capture.text();
#ifndef POPQUEUE_TESTS_SUPPORT_STDERR_CAPTURE_H_
#define POPQUEUE_TESTS_SUPPORT_STDERR_CAPTURE_H_

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

namespace popqueue::testing {

class StderrCapture {
 public:
  explicit StderrCapture(std::string path) : path_(std::move(path)) {
    std::fflush(stderr);
    saved_ = dup(2);
    file_ = std::fopen(path_.c_str(), "w");
    if (file_ != nullptr) dup2(fileno(file_), 2);
  }
  ~StderrCapture() { Stop(); }
  StderrCapture(const StderrCapture&) = delete;
  StderrCapture& operator=(const StderrCapture&) = delete;

  bool ok() const { return file_ != nullptr; }

  std::string text() {
    Stop();
    std::ifstream in(path_);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

 private:
  void Stop() {
    if (saved_ < 0) return;
    std::fflush(stderr);
    dup2(saved_, 2);
    close(saved_);
    saved_ = -1;
    if (file_ != nullptr) std::fclose(file_);
  }

  std::string path_;
  int saved_ = -1;
  FILE* file_ = nullptr;
};

}  // namespace popqueue::testing

#endif  // POPQUEUE_TESTS_SUPPORT_STDERR_CAPTURE_H_
