#include "server/api_error.h"

namespace tmill::server {

ApiError invalid_request(std::string message, std::string param, std::string code) {
  ApiError e;
  e.message = std::move(message);
  e.param = std::move(param);
  e.code = std::move(code);
  return e;
}

ApiError not_found(std::string message, std::string code) {
  ApiError e;
  e.status = 404;
  e.message = std::move(message);
  e.code = std::move(code);
  return e;
}

ApiError server_error(int status, std::string message, std::string code) {
  ApiError e;
  e.status = status;
  e.type = "server_error";
  e.message = std::move(message);
  e.code = std::move(code);
  return e;
}

ApiError forbidden(std::string message, std::string code, std::string param) {
  ApiError e;
  e.status = 403;
  e.type = "permission_error";
  e.message = std::move(message);
  e.code = std::move(code);
  e.param = std::move(param);
  return e;
}

nlohmann::json error_json(const ApiError& error) {
  nlohmann::json body;
  body["message"] = error.message;
  body["type"] = error.type;
  body["param"] = error.param.empty() ? nlohmann::json(nullptr) : nlohmann::json(error.param);
  body["code"] = error.code.empty() ? nlohmann::json(nullptr) : nlohmann::json(error.code);
  return nlohmann::json{{"error", std::move(body)}};
}

}  // namespace tmill::server
