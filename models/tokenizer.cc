#include "models/tokenizer.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "validation/input/input_file.h"
#include "validation/input/json_reader.h"

namespace ttt {

std::vector<std::int64_t> ByteTokenizer::encode(std::string_view text) const {
  std::vector<std::int64_t> ids;
  ids.reserve(text.size());
  for (const unsigned char byte : text)
    ids.push_back(static_cast<std::int64_t>(byte) + kByteOffset);
  return ids;
}

std::string ByteTokenizer::decode(std::span<const std::int64_t> ids) const {
  std::string text;
  for (const std::int64_t id : ids) {
    if (id >= kByteOffset && id < kByteOffset + 256) {
      text += static_cast<char>(static_cast<unsigned char>(id - kByteOffset));
    } else if (id == 0) {
      text += "<pad>";
    } else if (id == 1) {
      text += "</s>";
    } else if (id == 2) {
      text += "<unk>";
    } else {
      text += "<id " + std::to_string(id) + ">";
    }
  }
  return text;
}

std::optional<ByteTokenizer> read_byte_tokenizer(const std::string& dir) {
  const std::string path = (std::filesystem::path(dir) / "tokenizer_config.json").string();
  if (!std::filesystem::exists(path)) return std::nullopt;
  const nlohmann::json json = read_json_file(path);
  const JsonNode root(json, path);
  const std::string kind = root.at("tokenizer_class").string();
  if (kind != "ByT5Tokenizer") {
    root.at("tokenizer_class")
        .fail("'" + kind +
              "' is not a byte-level tokenizer TTTv2 can encode with "
              "(ByT5Tokenizer)");
  }
  if (const auto extra = root.find("extra_ids"); extra.has_value() && extra->integer() != 0) {
    extra->fail("extra_ids " + std::to_string(extra->integer()) +
                ": TTTv2's byte tokenizer has none (0)");
  }
  return ByteTokenizer{};
}

std::string quoted_text(const std::string& text) {
  return nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace ttt
