#include "coverage/collector.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <utility>

#include "coverage/record.h"
#include "coverage/sources.h"
#include "validation/wrapper/call_sink.h"

namespace ttt {

struct CoverageCollector::Impl {
  std::string path;
  CoverageCollectOptions options;
  mutable std::mutex mutex;
  int fd = -1;
  std::atomic<std::int64_t> written{0};
  std::optional<std::string> error;

  ~Impl() {
    if (fd >= 0) ::close(fd);
  }

  // Opens the file if needed. REQUIRES: mutex held. Returns false after an error.
  bool open_locked() {
    if (fd >= 0) return true;
    if (error.has_value()) return false;
    fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
      fail_locked("cannot open: " + std::string(std::strerror(errno)));
      return false;
    }
    return true;
  }

  void fail_locked(const std::string& message) {
    if (error.has_value()) return;
    error = "[coverage] " + path + ": " + message;
    std::fprintf(stderr, "%s (coverage records are dropped from now on)\n", error->c_str());
  }

  void append(const ValidationRecord& record) {
    const std::string line = to_json(coverage_record(record, options.origin)).dump() + "\n";
    std::lock_guard lock(mutex);
    if (!open_locked()) return;
    std::size_t done = 0;
    while (done < line.size()) {
      const ssize_t n = ::write(fd, line.data() + done, line.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        fail_locked("cannot write: " + std::string(std::strerror(errno)));
        return;
      }
      done += static_cast<std::size_t>(n);
    }
    written.fetch_add(1, std::memory_order_relaxed);
  }
};

namespace {

// The collector's call sink: every validated call's record, nothing else (no tensors).
class Sink final : public CallSink {
 public:
  explicit Sink(std::function<void(const ValidationRecord&)> append) : append_(std::move(append)) {}
  bool wants(std::string_view, bool validated) override { return validated; }
  void on_call(const CheckedCall& call) override { append_(call.record); }
  bool reads_tensors() const override { return false; }

 private:
  std::function<void(const ValidationRecord&)> append_;
};

}  // namespace

CoverageCollector::CoverageCollector(std::string path, CoverageCollectOptions options)
    : impl_(std::make_shared<Impl>()) {
  if (path.empty()) throw std::invalid_argument("[coverage] the coverage file path is empty");
  impl_->path = std::move(path);
  impl_->options = std::move(options);
  if (impl_->options.open_now) {
    std::lock_guard lock(impl_->mutex);
    if (!impl_->open_locked()) throw std::runtime_error(*impl_->error);
  }
  sink_id_ = add_call_sink(std::make_shared<Sink>(
      [impl = impl_](const ValidationRecord& record) { impl->append(record); }));
}

CoverageCollector::~CoverageCollector() {
  if (sink_id_ >= 0) remove_call_sink(sink_id_);
}

const std::string& CoverageCollector::path() const { return impl_->path; }

std::int64_t CoverageCollector::records_written() const {
  return impl_->written.load(std::memory_order_relaxed);
}

std::optional<std::string> CoverageCollector::error() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->error;
}

namespace {

// Started at static initialization when TTT_COVERAGE is set; lives until the process exits
// (never destroyed, so calls made by other static destructors are still recorded).
CoverageCollector* start_from_environment() {
  const char* path = std::getenv("TTT_COVERAGE");
  if (path == nullptr || *path == '\0') return nullptr;
  CoverageCollectOptions options;
  if (const char* origin = std::getenv("TTT_COVERAGE_ORIGIN")) options.origin = origin;
  options.open_now = false;  // A program that validates nothing creates no file.
  return new CoverageCollector(path, std::move(options));
}

CoverageCollector* const environment_collector = start_from_environment();

}  // namespace

CoverageCollector* environment_coverage_collector() { return environment_collector; }

}  // namespace ttt

// Referenced by the link option `-u ttt_coverage_environment_anchor` that tttv2::coverage gives
// its users (coverage/CMakeLists.txt): the linker then keeps this file's static initializer,
// which starts the TTT_COVERAGE collection, even in a program that calls nothing from it.
extern "C" {
extern const int ttt_coverage_environment_anchor;
const int ttt_coverage_environment_anchor = 0;
}
