// Opening files and parsing JSON that come from outside the process (suite files, coverage data,
// gate inputs, reports, .npy files, traces), so that hostile input fails with a message instead of
// hanging or crashing:
//   - a FIFO, directory, socket or device given as an input file is refused before it is opened
//     (opening a FIFO for reading blocks until someone writes to it);
//   - JSON nested deeper than kMaxJsonDepth is refused while parsing (deep nesting made recursive
//     code run out of stack).
// Every JSON document read from a file or from a file's attribute goes through parse_json.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace ttt {

// The deepest nesting of arrays and objects parse_json accepts. TTTv2's own formats nest fewer
// than 10 levels; 128 leaves room for any hand-written configuration.
inline constexpr int kMaxJsonDepth = 128;

// Throws std::invalid_argument "<path>: not a regular file (a FIFO)" when `path` exists and is
// not a regular file (symbolic links are followed). A missing file passes: the caller's own open
// names that problem.
void require_regular_file(const std::string& path);

// The whole content of the regular file `path`. Throws std::invalid_argument naming the file when
// it is not a regular file or cannot be read; `what` says what the file is for the message:
// "suite.json: cannot open the suite file (No such file or directory)".
std::string read_input_file(const std::string& path, std::string_view what = "the file");

// Parses `text` as one JSON document. Throws std::invalid_argument naming `source` (a file name,
// "file:line" or "file: attribute") for text that is not JSON ("<source>: not JSON: ...") or nests
// deeper than kMaxJsonDepth ("<source>: JSON nested deeper than 128 levels (at byte 129)").
nlohmann::json parse_json(std::string_view text, const std::string& source);

// read_input_file then parse_json, with the file name as source.
nlohmann::json read_json_file(const std::string& path, std::string_view what = "the file");

}  // namespace ttt
