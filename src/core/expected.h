// Errors as values. Every recoverable failure (bad file, bad request, missing model)
// travels as an Error with a message a user can act on; nothing a user supplies aborts.
#pragma once

#include <cstdlib>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace tmill {

struct Error {
  std::string message;
};

inline std::string to_message_part(const std::string& s) { return s; }
inline std::string to_message_part(std::string_view s) { return std::string(s); }
inline std::string to_message_part(const char* s) { return s; }
inline std::string to_message_part(char c) { return std::string(1, c); }
template <class N>
requires std::is_arithmetic_v<N> std::string to_message_part(N n) { return std::to_string(n); }

// Builds an Error; `return tmill::fail("tensor '", name, "' is missing");`
template <class... Parts>
Error fail(Parts&&... parts) {
  std::string message;
  (message.append(to_message_part(std::forward<Parts>(parts))), ...);
  return Error{std::move(message)};
}

// Expected<T>: either a value or an Error. Deliberately small (std::expected is C++23).
template <class T>
class [[nodiscard]] Expected {
 public:
  Expected(T value) : state_(std::move(value)) {}      // NOLINT: implicit by design
  Expected(Error error) : state_(std::move(error)) {}  // NOLINT

  bool ok() const { return std::holds_alternative<T>(state_); }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<T>(state_); }
  const T& value() const& { return std::get<T>(state_); }
  T&& value() && { return std::get<T>(std::move(state_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const { return std::get<Error>(state_); }

 private:
  std::variant<T, Error> state_;
};

// Status: success or an Error.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error error) : error_(std::move(error)), failed_(true) {}  // NOLINT
  static Status success() { return Status(); }

  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  const Error& error() const { return error_; }

 private:
  Error error_;
  bool failed_ = false;
};

}  // namespace tmill

// Propagate an error from an Expected/Status expression.
#define TM_TRY(expr)                                         \
  do {                                                       \
    auto&& tm_try_result_ = (expr);                          \
    if (!tm_try_result_.ok()) return tm_try_result_.error(); \
  } while (0)

#define TM_CONCAT_INNER(a, b) a##b
#define TM_CONCAT(a, b) TM_CONCAT_INNER(a, b)
// `TM_ASSIGN(auto file, GGUFFile::open(path));` Expands to several statements: never use it as
// the unbraced body of an if/for.
#define TM_ASSIGN(decl, expr)                                                                \
  auto TM_CONCAT(tm_assign_, __LINE__) = (expr);                                             \
  if (!TM_CONCAT(tm_assign_, __LINE__).ok()) return TM_CONCAT(tm_assign_, __LINE__).error(); \
  decl = std::move(TM_CONCAT(tm_assign_, __LINE__)).value()
