// Recomputing a registry entry's fingerprint from its recorded config (internal to the registry
// files of suites/suite): the kind configures the recorded Spec and ImplConfig again, as a suite
// case would, so that a default the kind now adds or changes shows in the parts.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "suites/suite/registry.h"
#include "suites/suite/suite_file.h"
#include "validation/fingerprint/fingerprint.h"

namespace ttt::registry_detail {

struct Recomputed {
  FingerprintParts parts;  // Spec and ImplConfig as the kind writes them now.
  Fingerprint fingerprint;
};

// Throws std::invalid_argument "<source>: <path>/kind: unknown block kind 'x' (known: ...)", or
// naming the mode, device or the config field the kind rejects.
Recomputed recompute(const RegistryConfig& config, const std::string& source,
                     const std::string& path);

// The fingerprint of case `case_id` of a suite file (its Suite built by make_suite), computed
// as a run would; nullopt when the file has no such case.
std::optional<Fingerprint> suite_case_fingerprint(const SuiteFile& file, const Suite& suite,
                                                  const std::string& case_id);

}  // namespace ttt::registry_detail
