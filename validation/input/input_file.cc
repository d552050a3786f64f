#include "validation/input/input_file.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace ttt {
namespace {

const char* kind_of(mode_t mode) {
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  return "not a file";
}

// The offset of the first '[' or '{' that opens level kMaxJsonDepth + 1, outside strings, or
// npos. Scanning first keeps the parser from ever building (or a caller from ever walking) a
// deeper document, and gives the offset for the message.
std::size_t too_deep_at(std::string_view text) {
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) return i;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return std::string_view::npos;
}

}  // namespace

void require_regular_file(const std::string& path) {
  struct stat status {};
  if (::stat(path.c_str(), &status) != 0) return;
  if (!S_ISREG(status.st_mode)) {
    throw std::invalid_argument(path + ": not a regular file (" + kind_of(status.st_mode) + ")");
  }
}

std::string read_input_file(const std::string& path, std::string_view what) {
  require_regular_file(path);
  errno = 0;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw std::invalid_argument(path + ": cannot open " + std::string(what) + " (" +
                                std::strerror(errno) + ")");
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw std::invalid_argument(path + ": read error");
  return std::move(text).str();
}

nlohmann::json parse_json(std::string_view text, const std::string& source) {
  if (const std::size_t at = too_deep_at(text); at != std::string_view::npos) {
    throw std::invalid_argument(source + ": JSON nested deeper than " +
                                std::to_string(kMaxJsonDepth) + " levels (at byte " +
                                std::to_string(at) + ")");
  }
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& error) {
    // parse_error, and out_of_range for a number that overflows a double ("1e400").
    throw std::invalid_argument(source + ": not JSON: " + error.what());
  }
}

nlohmann::json read_json_file(const std::string& path, std::string_view what) {
  return parse_json(read_input_file(path, what), path);
}

}  // namespace ttt
