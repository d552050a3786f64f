// The catalog's domains compiled into the library (internal to coverage/; its models are the
// models catalog's, models/catalog.h). CMake generates the definition from
// coverage/catalog/domains.json (catalog_data.cc.in).
#pragma once

namespace ttt::coverage_detail {

// The text of coverage/catalog/domains.json.
const char* builtin_domains_json();

}  // namespace ttt::coverage_detail
