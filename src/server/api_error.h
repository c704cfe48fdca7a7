// Errors the HTTP API returns, in OpenAI's shape: {"error": {"message", "type", "param", "code"}}
// with an HTTP status. They travel as values (ApiResult<T>) from request parsing to the
// connection, which writes them; nothing a client sends throws past the parser.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

#include <nlohmann/json.hpp>

namespace tmill::server {

struct ApiError {
  int status = 400;
  std::string type = "invalid_request_error";
  std::string message;
  std::string param;                       // "" is written as null
  std::string code;                        // "" is written as null
  std::optional<int> retry_after_seconds;  // sets Retry-After (503)
  std::string allow;                       // sets Allow (405)
  bool should_not_retry = false;           // sets x-should-retry: false (exhausted budget)
};

// 400 invalid_request_error naming the offending field.
ApiError invalid_request(std::string message, std::string param = "", std::string code = "");
ApiError not_found(std::string message, std::string code = "not_found");
ApiError server_error(int status, std::string message, std::string code = "");
// 403 permission_error: the caller is known but may not do this.
ApiError forbidden(std::string message, std::string code = "forbidden", std::string param = "");

nlohmann::json error_json(const ApiError& error);

// Either a value or an ApiError (Expected<T> carries only a message; the API also needs the
// status, param and code).
template <class T>
class [[nodiscard]] ApiResult {
 public:
  ApiResult(T value) : state_(std::move(value)) {}         // NOLINT: implicit by design
  ApiResult(ApiError error) : state_(std::move(error)) {}  // NOLINT

  bool ok() const { return std::holds_alternative<T>(state_); }
  T& value() & { return std::get<T>(state_); }
  const T& value() const& { return std::get<T>(state_); }
  T&& value() && { return std::get<T>(std::move(state_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const ApiError& error() const { return std::get<ApiError>(state_); }

 private:
  std::variant<T, ApiError> state_;
};

}  // namespace tmill::server
