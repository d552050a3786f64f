// The catalog's JSON files compiled into the library (internal to coverage/). CMake generates the
// definitions from coverage/catalog/models.json and domains.json (catalog_data.cc.in).
#pragma once

namespace ttt::coverage_detail {

// The text of coverage/catalog/models.json.
const char* builtin_models_json();
// The text of coverage/catalog/domains.json.
const char* builtin_domains_json();

}  // namespace ttt::coverage_detail
