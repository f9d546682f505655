#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace gravity {

// Status: success, or an error carrying a code for the program to branch on and the
// sentence a user must read. Code paths decide on the code, never on the message.
class Status {
 public:
  enum class Code {
    kOk,
    kUnknown,             // Status::Error: a failure callers need not tell apart
    kNotFound,            // the named thing does not exist (app, environment, service)
    kInvalidArgument,     // the request itself is wrong (bad body, bad flag)
    kConflict,            // refused because of the current state (busy, already live)
    kFailedPrecondition,  // it ran and did not succeed (a deploy that did not go live)
    kUnavailable,         // the peer could not be reached: the request did not arrive
    kInterrupted,         // the request may have arrived, but no answer came back
  };

  Status() = default;
  static Status Ok() { return Status(); }
  static Status Error(std::string message) { return Status(Code::kUnknown, std::move(message)); }
  static Status NotFound(std::string message) {
    return Status(Code::kNotFound, std::move(message));
  }
  static Status InvalidArgument(std::string message) {
    return Status(Code::kInvalidArgument, std::move(message));
  }
  static Status Conflict(std::string message) {
    return Status(Code::kConflict, std::move(message));
  }
  static Status FailedPrecondition(std::string message) {
    return Status(Code::kFailedPrecondition, std::move(message));
  }
  static Status Unavailable(std::string message) {
    return Status(Code::kUnavailable, std::move(message));
  }
  static Status Interrupted(std::string message) {
    return Status(Code::kInterrupted, std::move(message));
  }
  // An error with `code` (kOk is not an error: it yields kUnknown).
  static Status WithCode(Code code, std::string message) {
    return Status(code == Code::kOk ? Code::kUnknown : code, std::move(message));
  }

  bool ok() const { return code_ == Code::kOk; }
  explicit operator bool() const { return ok(); }
  Code code() const { return code_; }
  bool IsNotFound() const { return code_ == Code::kNotFound; }
  bool IsInvalidArgument() const { return code_ == Code::kInvalidArgument; }
  bool IsConflict() const { return code_ == Code::kConflict; }
  bool IsFailedPrecondition() const { return code_ == Code::kFailedPrecondition; }
  bool IsUnavailable() const { return code_ == Code::kUnavailable; }
  bool IsInterrupted() const { return code_ == Code::kInterrupted; }

  const std::string& message() const { return message_; }
  // Returns a copy with "context: " put in front of the message; the code is kept.
  Status Prefixed(const std::string& context) const {
    return ok() ? *this : Status(code_, context + ": " + message_);
  }

 private:
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}
  Code code_ = Code::kOk;
  std::string message_;
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
