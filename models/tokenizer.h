// Text to token ids for models whose tokens are bytes. A model directory says how its text is
// tokenized in Hugging Face's tokenizer_config.json; TTTv2 encodes only byte-level tokenizers
// (Hugging Face's ByT5Tokenizer: 0 pad, 1 end of sequence, 2 unknown, byte b is id b + 3), which
// need no vocabulary file. models/trained/tiny-llama-bytes uses it.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ttt {

class ByteTokenizer {
 public:
  // The UTF-8 bytes of `text` as ids (byte b -> b + 3).
  std::vector<std::int64_t> encode(std::string_view text) const;
  // The bytes of the byte ids; other ids written as "<pad>", "</s>", "<unk>" or "<id N>".
  std::string decode(std::span<const std::int64_t> ids) const;

  static constexpr std::int64_t kByteOffset = 3;
};

// The tokenizer of the model directory `dir`: nullopt when it has no tokenizer_config.json.
// Throws std::invalid_argument naming the file and field when the file is not JSON or names
// another tokenizer_class ("<dir>/tokenizer_config.json: /tokenizer_class: 'LlamaTokenizer' is
// not a byte-level tokenizer TTTv2 can encode with (ByT5Tokenizer)") or extra_ids other than 0.
std::optional<ByteTokenizer> read_byte_tokenizer(const std::string& dir);

// `text` quoted for a terminal: JSON string syntax (newlines as \n, bytes that are not UTF-8
// replaced by U+FFFD).
std::string quoted_text(const std::string& text);

}  // namespace ttt
