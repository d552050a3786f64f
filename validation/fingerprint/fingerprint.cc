#include "validation/fingerprint/fingerprint.h"

#include <cmath>
#include <cstdint>

#include "validation/tensor/fnv.h"

namespace ttt {
namespace {

// 2^53: every integer up to it in magnitude is exactly a double, so writing such a double as an
// integer loses nothing.
constexpr double kExactIntegerLimit = 9007199254740992.0;

void write_canonical(const nlohmann::json& value, std::string& out) {
  switch (value.type()) {
    case nlohmann::json::value_t::object: {
      // nlohmann::json keeps object keys in a std::map: iteration is already sorted by key.
      out += '{';
      bool first = true;
      for (const auto& [key, member] : value.items()) {
        if (!first) out += ',';
        first = false;
        out += nlohmann::json(key).dump();
        out += ':';
        write_canonical(member, out);
      }
      out += '}';
      return;
    }
    case nlohmann::json::value_t::array: {
      out += '[';
      for (std::size_t i = 0; i < value.size(); ++i) {
        if (i > 0) out += ',';
        write_canonical(value[i], out);
      }
      out += ']';
      return;
    }
    case nlohmann::json::value_t::number_float: {
      const double number = value.get<double>();
      if (std::isfinite(number) && std::trunc(number) == number &&
          std::fabs(number) <= kExactIntegerLimit) {
        // -0.0 is 0 too: no configuration tells them apart.
        out += std::to_string(static_cast<std::int64_t>(number));
        return;
      }
      out += value.dump();  // Shortest round-trip form.
      return;
    }
    default:
      out += value.dump();
      return;
  }
}

}  // namespace

std::string canonical_json(const nlohmann::json& value) {
  std::string out;
  write_canonical(value, out);
  return out;
}

std::int64_t token_bucket(std::int64_t value) {
  if (value <= 0) return 0;
  std::int64_t bucket = 1;
  while (bucket < value) bucket *= 2;
  return bucket;
}

const std::string& fingerprint_version() {
  static const std::string version = TTT_VERSION_MAJOR_MINOR;
  return version;
}

Fingerprint make_fingerprint(const FingerprintParts& parts) {
  const std::int64_t batch = token_bucket(parts.batch);
  const std::int64_t tokens = token_bucket(parts.tokens);
  const nlohmann::json hashed = {
      {"scheme", kFingerprintScheme},
      {"version", fingerprint_version()},
      {"kind", parts.kind},
      {"mode", parts.mode},
      {"spec", parts.spec},
      {"impl_config", parts.impl_config},
      {"batch", batch},
      {"tokens", tokens},
      {"mesh", parts.mesh},
  };
  Fingerprint fingerprint;
  fingerprint.id = hex64(fnv1a64(canonical_json(hashed)));
  // "attention.decode" names its mode already.
  const bool says_mode = parts.mode.empty() || parts.kind.ends_with("." + parts.mode);
  fingerprint.summary = parts.kind + (says_mode ? "" : " " + parts.mode) + " | " +
                        parts.identity + " | batch<=" + std::to_string(batch) +
                        " tokens<=" + std::to_string(tokens) + " | " + parts.mesh;
  return fingerprint;
}

nlohmann::json to_json(const Fingerprint& fingerprint) {
  return {{"id", fingerprint.id}, {"summary", fingerprint.summary}};
}

Fingerprint fingerprint_from_json(const JsonNode& node) {
  node.allow_only({"id", "summary"});
  Fingerprint fingerprint;
  fingerprint.id = node.at("id").string();
  if (fingerprint.id.size() != 16 ||
      fingerprint.id.find_first_not_of("0123456789abcdef") != std::string::npos) {
    node.at("id").fail("expected 16 lower-case hex digits, got \"" + fingerprint.id + "\"");
  }
  fingerprint.summary = node.at("summary").string();
  return fingerprint;
}

}  // namespace ttt
