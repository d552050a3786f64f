// The exception every trace operation throws for bad input or I/O failure.
#pragma once

#include <stdexcept>
#include <string>

namespace ttt {

// A problem with a trace or tensor file, naming the file and the path inside it. what() reads
// "<file>:<path>: <message>" (the same "file.h5:/path" syntax `ttt compare` accepts), or
// "<file>: <message>" when no path inside the file is involved, e.g.
//   "run.h5:/calls/000012/inputs/x: cannot open dataset: object 'x' doesn't exist".
// The `ttt` commands turn it into exit code 2.
class TraceError : public std::runtime_error {
 public:
  TraceError(std::string file, std::string object, const std::string& message);

  // The file the problem is in.
  const std::string& file() const { return file_; }
  // The path inside the file ("/calls/000012/inputs/x"), or "" for the file as a whole.
  const std::string& object() const { return object_; }

 private:
  std::string file_;
  std::string object_;
};

}  // namespace ttt
