#pragma once

// When a request that failed on its way to a target is tried again, and where. One policy
// for every failure before the response head:
// - a reused pooled connection that turned out dead (the send failed, or it closed before a
//   byte of the response) says nothing about the target: drop that target's idle pool and
//   try once more on a fresh connection;
// - a fresh connection that was refused or closed before a byte of the response: an
//   idempotent request whose body was fully sent goes once to another target;
// - anything else (a timeout, bytes of a response already read, a body only partly sent) is
//   answered with the error: resending could repeat a side effect or double a wait.
// At most kMaxAttempts tries in all. Thread-safety: a value owned by one request.

namespace gravity::proxy {

enum class AttemptFailure {
  kConnectFailed,         // refused or unreachable
  kConnectTimedOut,       // no connection within the connect timeout
  kSendFailed,            // writing the request head failed
  kClosedBeforeResponse,  // the connection ended before a byte of the response
  kResponseTimedOut,      // no response head within the response timeout
  kResponseStarted,       // the connection ended after part of the response head
};

enum class RetryAction {
  kFreshConnection,  // the same target again, on a new connection (its idle pool dropped)
  kOtherTarget,      // another routable target, if there is one
  kGiveUp,           // answer the client with the error
};

class RetryPolicy {
 public:
  static constexpr int kMaxAttempts = 4;
  RetryPolicy(bool idempotent, bool body_sent_whole)
      : idempotent_(idempotent), body_whole_(body_sent_whole) {}

  // What to do after attempt number attempts()+1 failed with `f` on a connection that was
  // `reused` from the pool. Counts the attempt.
  RetryAction OnFailure(AttemptFailure f, bool reused) {
    ++attempts_;
    if (attempts_ >= kMaxAttempts || !body_whole_) return RetryAction::kGiveUp;
    const bool nothing_read =
        f == AttemptFailure::kSendFailed || f == AttemptFailure::kClosedBeforeResponse;
    if (reused && nothing_read) return RetryAction::kFreshConnection;
    const bool target_refused =
        f == AttemptFailure::kConnectFailed || f == AttemptFailure::kConnectTimedOut ||
        f == AttemptFailure::kClosedBeforeResponse;
    if (idempotent_ && target_refused && !moved_) {
      moved_ = true;
      return RetryAction::kOtherTarget;
    }
    return RetryAction::kGiveUp;
  }
  int attempts() const { return attempts_; }

 private:
  bool idempotent_;
  bool body_whole_;
  bool moved_ = false;  // already went to another target once
  int attempts_ = 0;
};

}  // namespace gravity::proxy
