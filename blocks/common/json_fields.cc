#include "blocks/common/json_fields.h"

namespace ttt {

void dtype_to_json(nlohmann::json& json, DType dtype) { json = std::string(dtype_name(dtype)); }

}  // namespace ttt
