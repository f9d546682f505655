#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace gravity {

// Status: success, or an error carrying the sentence a user must read.
class Status {
 public:
  Status() = default;
  static Status Ok() { return Status(); }
  static Status Error(std::string message) { return Status(std::move(message)); }

  bool ok() const { return !message_.has_value(); }
  explicit operator bool() const { return ok(); }
  const std::string& message() const {
    static const std::string kEmpty;
    return message_ ? *message_ : kEmpty;
  }
  // Returns a copy with "context: " put in front of the message.
  Status Prefixed(const std::string& context) const {
    return ok() ? *this : Error(context + ": " + *message_);
  }

 private:
  explicit Status(std::string message) : message_(std::move(message)) {}
  std::optional<std::string> message_;
};

// Result<T>: a value or an error Status.
template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    if (std::get<Status>(v_).ok()) v_ = Status::Error("internal: Result built from OK status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return ok(); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  const std::string& error() const { return status().message(); }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace gravity

#define GRAVITY_CONCAT_INNER(a, b) a##b
#define GRAVITY_CONCAT(a, b) GRAVITY_CONCAT_INNER(a, b)

// RETURN_IF_ERROR(expr): expr yields a Status; return it when it is an error.
#define RETURN_IF_ERROR(expr)                      \
  do {                                             \
    ::gravity::Status _gravity_st = (expr);        \
    if (!_gravity_st.ok()) return _gravity_st;     \
  } while (0)

// ASSIGN_OR_RETURN(lhs, expr): expr yields a Result<T>; on error return its Status.
#define ASSIGN_OR_RETURN(lhs, expr)                                     \
  auto GRAVITY_CONCAT(_gravity_r, __LINE__) = (expr);                   \
  if (!GRAVITY_CONCAT(_gravity_r, __LINE__).ok())                       \
    return GRAVITY_CONCAT(_gravity_r, __LINE__).status();               \
  lhs = std::move(GRAVITY_CONCAT(_gravity_r, __LINE__)).value()
