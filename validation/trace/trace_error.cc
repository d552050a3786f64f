#include "validation/trace/trace_error.h"

#include <utility>

namespace ttt {
namespace {
std::string compose(const std::string& file, const std::string& object,
                    const std::string& message) {
  return object.empty() ? file + ": " + message : file + ":" + object + ": " + message;
}
}  // namespace

TraceError::TraceError(std::string file, std::string object, const std::string& message)
    : std::runtime_error(compose(file, object, message)),
      file_(std::move(file)),
      object_(std::move(object)) {}

}  // namespace ttt
