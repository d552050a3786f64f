// validation/input/input_file.h: what is not a regular file is refused before it is opened (a FIFO
// would block the open forever), JSON deeper than kMaxJsonDepth is refused naming the byte, and
// text that is not JSON names its source.
#include "validation/input/input_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include "tests/common/scratch_dir.h"

namespace ttt {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

class InputFile : public ::testing::Test {
 protected:
  std::string path(const std::string& name) const { return scratch_.file(name); }
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(path(name), std::ios::binary) << text;
    return path(name);
  }

  test_support::ScratchDir scratch_;
};

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const std::invalid_argument& error) {
    return error.what();
  }
  return "(no error)";
}

// `levels` nested arrays: "[[...]]".
std::string nested(int levels) { return std::string(levels, '[') + std::string(levels, ']'); }

TEST_F(InputFile, RequireRegularFileNamesTheFileAndWhatItIs) {
  const std::string fifo = path("pipe");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_EQ(error_of([&] { require_regular_file(fifo); }), fifo + ": not a regular file (a FIFO)");
  EXPECT_EQ(error_of([&] { require_regular_file(scratch_.path().string()); }),
            scratch_.path().string() + ": not a regular file (a directory)");
  EXPECT_EQ(error_of([] { require_regular_file("/dev/null"); }),
            "/dev/null: not a regular file (a character device)");
  // A regular file passes, and so does a missing one (its reader's open names that problem).
  EXPECT_EQ(error_of([&] { require_regular_file(write("a.json", "{}")); }), "(no error)");
  EXPECT_EQ(error_of([&] { require_regular_file(path("absent.json")); }), "(no error)");
  // A symbolic link is judged by what it points to.
  std::filesystem::create_symlink(fifo, path("link"));
  EXPECT_EQ(error_of([&] { require_regular_file(path("link")); }),
            path("link") + ": not a regular file (a FIFO)");
}

// Reading a FIFO would block until a writer appears: these return at once (the test would hang
// otherwise, and CTest's timeout would fail it).
TEST_F(InputFile, ReadingAFifoFailsInsteadOfBlocking) {
  const std::string fifo = path("pipe");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_EQ(error_of([&] { read_input_file(fifo, "the suite file"); }),
            fifo + ": not a regular file (a FIFO)");
  EXPECT_EQ(error_of([&] { read_json_file(fifo); }), fifo + ": not a regular file (a FIFO)");
  EXPECT_EQ(error_of([&] { read_json_file(path("absent.json"), "the suite file"); }),
            path("absent.json") + ": cannot open the suite file (No such file or directory)");
}

TEST_F(InputFile, JsonAtTheDepthLimitParsesOneLevelDeeperFails) {
  ASSERT_EQ(kMaxJsonDepth, 128);
  nlohmann::json json = parse_json(nested(128), "deep.json");
  int depth = 0;
  for (; json.is_array(); ++depth) json = json.empty() ? nlohmann::json() : json[0];
  EXPECT_EQ(depth, 128);
  // The 129th '[' is at byte 128 (bytes count from 0).
  EXPECT_EQ(error_of([] { parse_json(nested(129), "deep.json"); }),
            "deep.json: JSON nested deeper than 128 levels (at byte 128)");
  // Objects count like arrays; brackets inside strings do not count.
  std::string objects;
  for (int i = 0; i < 129; ++i) objects += "{\"a\":";
  objects += "1" + std::string(129, '}');
  EXPECT_EQ(error_of([&] { parse_json(objects, "x.json:3"); }),
            "x.json:3: JSON nested deeper than 128 levels (at byte 640)");
  EXPECT_EQ(parse_json("[\"" + nested(200) + "\\\"[\"]", "s.json"),
            nlohmann::json::array({nested(200) + "\"["}));
}

// 65536 levels (128 KiB) used to overflow the stack of recursive code that walked the document.
TEST_F(InputFile, VeryDeepFileIsRefusedNamingTheFile) {
  const std::string file = write("deep.json", nested(65536));
  EXPECT_EQ(error_of([&] { read_json_file(file); }),
            file + ": JSON nested deeper than 128 levels (at byte 128)");
}

TEST_F(InputFile, TextThatIsNotJsonNamesItsSource) {
  const std::string message = error_of([] { parse_json("{\"a\": nope}", "results.json"); });
  EXPECT_THAT(message, StartsWith("results.json: not JSON: "));
  EXPECT_THAT(message, HasSubstr("parse error at line 1, column 8"));
  EXPECT_THAT(error_of([] { parse_json("", "empty.json"); }), StartsWith("empty.json: not JSON: "));
  // A number beyond double's range is nlohmann's out_of_range, reported the same way.
  EXPECT_THAT(error_of([] { parse_json("[1e400]", "big.json"); }),
              StartsWith("big.json: not JSON: "));
  EXPECT_EQ(parse_json(" {\"a\": [1, 2]} ", "ok.json"), nlohmann::json({{"a", {1, 2}}}));
}

}  // namespace
}  // namespace ttt
