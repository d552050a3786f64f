// Reference-token goldens: what a reference model predicted at every position of a token
// sequence, the file `ttt accuracy` judges a device run's tokens against (docs/trace-format.md
// "Token goldens"). An HDF5 file of the trace family: written and read only here, through the
// trace library's checked HDF5 layer.
//
// The sequence is a prompt followed by the reference's greedy continuation. For every position t
// of it, the golden keeps the reference's k most likely next tokens (the prediction of token
// t + 1) and their log-probabilities, so that a device run fed the same tokens (teacher forcing)
// can be scored position by position: top-1 (the device's most likely token is the reference's
// next token) and top-5 (it is among the reference's five most likely).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ttt {

// Where the golden's tokens and predictions come from.
struct TokenGoldenProvenance {
  std::string model;            // The model's name: "tiny-llama-bytes".
  std::int64_t vocab_size = 0;  // Token ids are in [0, vocab_size).
  std::string weights_hash;     // Of the checkpoint's bytes: "fnv1a64:<16 hex digits>".
  std::string reference;        // What computed the predictions.
  std::string numerics;         // In which arithmetic.
  std::string producer;         // Set by write_token_golden: "tttv2 <version>".
  std::string created_utc;      // Set by write_token_golden.
};

struct TokenGolden {
  std::vector<std::int64_t> prompt;        // The prompt's token ids.
  std::vector<std::int64_t> continuation;  // The reference's greedy continuation.
  std::int64_t top_k = 5;                  // Predictions kept per position. REQUIRES: >= 5.
  // [positions, top_k] row-major, positions = prompt + continuation: the reference's most likely
  // next tokens at each position, most likely first, and their log-probabilities (log-softmax of
  // the logits, so <= 0, in non-increasing order).
  std::vector<std::int64_t> top_ids;
  std::vector<double> top_log_probs;
  TokenGoldenProvenance provenance;

  // prompt followed by continuation.
  std::vector<std::int64_t> tokens() const;
  std::int64_t positions() const {
    return static_cast<std::int64_t>(prompt.size() + continuation.size());
  }
  // The reference's prediction `rank` (0: most likely) at `position`.
  std::int64_t top_id(std::int64_t position, std::int64_t rank) const {
    return top_ids[static_cast<std::size_t>(position * top_k + rank)];
  }
};

// Checks the golden's contract: a non-empty prompt, top_k >= 5 and at most vocab_size, the
// arrays' sizes, ids in [0, vocab_size) and distinct within a row, log-probabilities finite,
// <= 0 and non-increasing within a row, a model name and weights hash. Throws
// std::invalid_argument "[token_golden] <source>: <what is wrong>".
void validate_token_golden(const TokenGolden& golden, const std::string& source);

// Writes `golden` to `path` (replacing it), stamping producer and created_utc. Throws
// std::invalid_argument as validate_token_golden, TraceError when the file cannot be written.
void write_token_golden(const std::string& path, const TokenGolden& golden);

// Reads a golden. Throws TraceError naming the file (and the dataset or attribute) when it is not
// a token golden (another trace-family file: the format attribute says which), has another format
// version, lacks a dataset or attribute or holds one of the wrong type or shape; and
// std::invalid_argument naming the file when its contents break validate_token_golden.
TokenGolden read_token_golden(const std::string& path);

}  // namespace ttt
