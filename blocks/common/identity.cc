#include "blocks/common/identity.h"

#include <cstdio>

namespace ttt {

Identity::Identity(std::string_view op) : op_(op) {}

Identity& Identity::append(std::string_view name, const std::string& value) {
  if (!fields_.empty()) fields_ += ',';
  fields_.append(name);
  fields_ += '=';
  fields_ += value;
  return *this;
}

Identity& Identity::add(std::string_view name, std::int64_t value) {
  return append(name, std::to_string(value));
}

Identity& Identity::add(std::string_view name, double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%g", value);
  return append(name, buffer);
}

Identity& Identity::add(std::string_view name, bool value) {
  return append(name, value ? "1" : "0");
}

Identity& Identity::add(std::string_view name, std::string_view value) {
  return append(name, std::string(value));
}

std::string Identity::str() const { return op_ + "(" + fields_ + ")"; }

}  // namespace ttt
