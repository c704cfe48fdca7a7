#include "server/sse.h"

#include "server/json_body.h"

namespace tmill::server {

std::string sse_event(const nlohmann::json& chunk) {
  std::string out = "data: ";
  out += dump_json(chunk);
  out += "\n\n";
  return out;
}

}  // namespace tmill::server
