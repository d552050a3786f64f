#include "validation/trace/token_golden.h"

#include <cmath>
#include <set>
#include <stdexcept>

#include "validation/trace/internal/common.h"
#include "validation/trace/internal/h5.h"
#include "validation/trace/trace_error.h"

namespace ttt {
namespace {

constexpr std::string_view kFormat = "ttt-token-golden";
constexpr std::int64_t kVersion = 1;

[[noreturn]] void invalid(const std::string& source, const std::string& message) {
  throw std::invalid_argument("[token_golden] " + source + ": " + message);
}

void write_int64s(hid_t file, const std::string& name, const std::vector<std::int64_t>& values,
                  const Shape& shape, const h5::WriterIds& ids, const std::string& path) {
  const h5::Where where{path, "/" + name};
  h5::DatasetId dataset =
      h5::create_dataset(file, name, h5::StoredType::int64, shape, h5::Layout{}, ids, where);
  h5::write_dataset(dataset.get(), h5::StoredType::int64, values.data(), where);
}

// The dataset `name` as `type` (H5T_INTEGER or H5T_FLOAT) of rank `rank`; returns its shape.
Shape dataset_shape(hid_t dataset, H5T_class_t type, std::size_t rank, const h5::Where& where) {
  const h5::DatasetInfo info = h5::dataset_info(dataset, where);
  if (info.type_class != type || info.is_null || info.shape.size() != rank) {
    h5::fail(where, std::string("expected a ") + std::to_string(rank) + "-D " +
                        (type == H5T_INTEGER ? "integer" : "floating-point") + " dataset");
  }
  return info.shape;
}

std::vector<std::int64_t> read_int64s(hid_t file, const std::string& name, std::size_t rank,
                                      const std::string& path, Shape& shape) {
  const h5::Where where{path, "/" + name};
  h5::DatasetId dataset = h5::open_dataset(file, name, where);
  shape = dataset_shape(dataset.get(), H5T_INTEGER, rank, where);
  std::vector<std::int64_t> values(static_cast<std::size_t>(shape_numel(shape)));
  h5::read_dataset(dataset.get(), H5T_NATIVE_INT64, values.data(), where);
  return values;
}

std::string required_string(hid_t file, const char* name, const std::string& path) {
  const h5::Where where{path, std::string("/@") + name};
  std::optional<std::string> value = h5::read_string_attribute(file, name, where);
  if (!value.has_value()) h5::fail(where, "missing attribute");
  return *value;
}

std::int64_t required_int(hid_t file, const char* name, const std::string& path) {
  const h5::Where where{path, std::string("/@") + name};
  const std::optional<std::int64_t> value = h5::read_int_attribute(file, name, where);
  if (!value.has_value()) h5::fail(where, "missing attribute");
  return *value;
}

}  // namespace

std::vector<std::int64_t> TokenGolden::tokens() const {
  std::vector<std::int64_t> all = prompt;
  all.insert(all.end(), continuation.begin(), continuation.end());
  return all;
}

void validate_token_golden(const TokenGolden& golden, const std::string& source) {
  const TokenGoldenProvenance& provenance = golden.provenance;
  if (provenance.model.empty()) invalid(source, "the model's name is empty");
  if (provenance.weights_hash.empty()) invalid(source, "the weights hash is empty");
  if (provenance.vocab_size < 1) {
    invalid(source, "vocab_size " + std::to_string(provenance.vocab_size) + " is not positive");
  }
  if (golden.prompt.empty()) invalid(source, "the prompt is empty");
  if (golden.top_k < 5 || golden.top_k > provenance.vocab_size) {
    invalid(source, "top_k " + std::to_string(golden.top_k) + " is not in [5, vocab_size " +
                        std::to_string(provenance.vocab_size) + "]");
  }
  for (const std::int64_t token : golden.tokens()) {
    if (token < 0 || token >= provenance.vocab_size) {
      invalid(source, "token " + std::to_string(token) + " is outside the vocabulary [0, " +
                          std::to_string(provenance.vocab_size) + ")");
    }
  }
  const auto expected = static_cast<std::size_t>(golden.positions() * golden.top_k);
  if (golden.top_ids.size() != expected || golden.top_log_probs.size() != expected) {
    invalid(source, "top_ids and top_log_probs hold " + std::to_string(golden.top_ids.size()) +
                        " and " + std::to_string(golden.top_log_probs.size()) +
                        " values, expected positions x top_k = " + std::to_string(expected));
  }
  for (std::int64_t position = 0; position < golden.positions(); ++position) {
    std::set<std::int64_t> seen;
    for (std::int64_t rank = 0; rank < golden.top_k; ++rank) {
      const std::int64_t id = golden.top_id(position, rank);
      const double log_prob =
          golden.top_log_probs[static_cast<std::size_t>(position * golden.top_k + rank)];
      const std::string where =
          "position " + std::to_string(position) + " rank " + std::to_string(rank) + ": ";
      if (id < 0 || id >= provenance.vocab_size) {
        invalid(source, where + "id " + std::to_string(id) + " is outside the vocabulary");
      }
      if (!seen.insert(id).second) invalid(source, where + "id " + std::to_string(id) + " repeats");
      if (!std::isfinite(log_prob) || log_prob > 0.0) {
        invalid(source,
                where + "log-probability " + std::to_string(log_prob) + " is not finite and <= 0");
      }
      if (rank > 0 &&
          log_prob >
              golden.top_log_probs[static_cast<std::size_t>(position * golden.top_k + rank - 1)]) {
        invalid(source, where + "log-probabilities are not in non-increasing order");
      }
    }
  }
}

void write_token_golden(const std::string& path, const TokenGolden& golden) {
  validate_token_golden(golden, path);
  h5::FileId file = h5::create_file(path);
  const h5::Where root{path, ""};
  const h5::WriterIds ids = h5::make_writer_ids(root);
  const TokenGoldenProvenance& provenance = golden.provenance;
  const hid_t id = file.get();
  h5::write_attribute(id, "ttt_format", kFormat, ids, root);
  h5::write_attribute(id, "ttt_format_version", kVersion, ids, root);
  h5::write_attribute(id, "model", std::string_view(provenance.model), ids, root);
  h5::write_attribute(id, "vocab_size", provenance.vocab_size, ids, root);
  h5::write_attribute(id, "weights_hash", std::string_view(provenance.weights_hash), ids, root);
  h5::write_attribute(id, "reference", std::string_view(provenance.reference), ids, root);
  h5::write_attribute(id, "numerics", std::string_view(provenance.numerics), ids, root);
  h5::write_attribute(id, "producer", std::string_view("tttv2 " TTT_VERSION), ids, root);
  h5::write_attribute(id, "created_utc", std::string_view(trace_internal::utc_now_iso8601()), ids,
                      root);
  h5::write_attribute(id, "top_k", golden.top_k, ids, root);
  const auto prompt_length = static_cast<std::int64_t>(golden.prompt.size());
  const auto continuation_length = static_cast<std::int64_t>(golden.continuation.size());
  write_int64s(id, "prompt", golden.prompt, {prompt_length}, ids, path);
  write_int64s(id, "continuation", golden.continuation, {continuation_length}, ids, path);
  const Shape top_shape{golden.positions(), golden.top_k};
  write_int64s(id, "top_ids", golden.top_ids, top_shape, ids, path);
  const h5::Where where{path, "/top_log_probs"};
  h5::DatasetId log_probs = h5::create_dataset(id, "top_log_probs", h5::StoredType::float64,
                                               top_shape, h5::Layout{}, ids, where);
  h5::write_dataset(log_probs.get(), h5::StoredType::float64, golden.top_log_probs.data(), where);
  log_probs.reset();
  file.close(root, "close the file");
}

TokenGolden read_token_golden(const std::string& path) {
  h5::FileId file = h5::open_file_read_only(path);
  const hid_t id = file.get();
  const h5::Where root{path, ""};
  const std::optional<std::string> format = h5::read_string_attribute(id, "ttt_format", root);
  if (format != kFormat) {
    h5::fail(root, "not a token golden: its ttt_format attribute is " +
                       (format.has_value() ? "'" + *format + "'" : std::string("absent")) +
                       ", expected '" + std::string(kFormat) +
                       "' (ttt accuracy --make-golden "
                       "writes one; docs/trace-format.md \"Token goldens\")");
  }
  const std::int64_t version = required_int(id, "ttt_format_version", path);
  if (version != kVersion) {
    h5::fail(root, "token golden format version " + std::to_string(version) +
                       " is not supported (this TTTv2 reads version " + std::to_string(kVersion) +
                       ")");
  }
  TokenGolden golden;
  TokenGoldenProvenance& provenance = golden.provenance;
  provenance.model = required_string(id, "model", path);
  provenance.vocab_size = required_int(id, "vocab_size", path);
  provenance.weights_hash = required_string(id, "weights_hash", path);
  provenance.reference = required_string(id, "reference", path);
  provenance.numerics = required_string(id, "numerics", path);
  provenance.producer = required_string(id, "producer", path);
  provenance.created_utc = required_string(id, "created_utc", path);
  golden.top_k = required_int(id, "top_k", path);
  Shape shape;
  golden.prompt = read_int64s(id, "prompt", 1, path, shape);
  golden.continuation = read_int64s(id, "continuation", 1, path, shape);
  golden.top_ids = read_int64s(id, "top_ids", 2, path, shape);
  const Shape expected{golden.positions(), golden.top_k};
  if (shape != expected) {
    h5::fail({path, "/top_ids"}, "has shape " + shape_to_string(shape) + ", expected " +
                                     shape_to_string(expected) + " (positions, top_k)");
  }
  const h5::Where where{path, "/top_log_probs"};
  h5::DatasetId log_probs = h5::open_dataset(id, "top_log_probs", where);
  const Shape log_probs_shape = dataset_shape(log_probs.get(), H5T_FLOAT, 2, where);
  if (log_probs_shape != expected) {
    h5::fail(where, "has shape " + shape_to_string(log_probs_shape) + ", expected " +
                        shape_to_string(expected) + " (positions, top_k)");
  }
  golden.top_log_probs.resize(static_cast<std::size_t>(shape_numel(expected)));
  h5::read_dataset(log_probs.get(), H5T_NATIVE_DOUBLE, golden.top_log_probs.data(), where);
  validate_token_golden(golden, path);
  return golden;
}

}  // namespace ttt
