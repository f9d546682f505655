#include "proxy/retry_policy.h"

#include <gtest/gtest.h>

namespace gravity::proxy {
namespace {

TEST(RetryPolicy, DeadPooledConnectionIsRetriedOnAFreshOne) {
  RetryPolicy p(/*idempotent=*/false, /*body_sent_whole=*/true);
  EXPECT_EQ(p.OnFailure(AttemptFailure::kSendFailed, true), RetryAction::kFreshConnection);
  EXPECT_EQ(p.OnFailure(AttemptFailure::kClosedBeforeResponse, true),
            RetryAction::kFreshConnection);
  // The fresh connection failing too is the target's fault: a POST is not moved.
  EXPECT_EQ(p.OnFailure(AttemptFailure::kClosedBeforeResponse, false), RetryAction::kGiveUp);
}

TEST(RetryPolicy, IdempotentRequestMovesToAnotherTargetOnce) {
  RetryPolicy p(true, true);
  EXPECT_EQ(p.OnFailure(AttemptFailure::kConnectFailed, false), RetryAction::kOtherTarget);
  EXPECT_EQ(p.OnFailure(AttemptFailure::kConnectFailed, false), RetryAction::kGiveUp);
  RetryPolicy t(true, true);
  EXPECT_EQ(t.OnFailure(AttemptFailure::kConnectTimedOut, false), RetryAction::kOtherTarget);
}

TEST(RetryPolicy, NothingIsResentOnceTheResponseStartedOrTimedOut) {
  for (auto f : {AttemptFailure::kResponseTimedOut, AttemptFailure::kResponseStarted}) {
    RetryPolicy p(true, true);
    EXPECT_EQ(p.OnFailure(f, true), RetryAction::kGiveUp);
  }
}

TEST(RetryPolicy, APartlySentBodyIsNeverResent) {
  RetryPolicy p(true, /*body_sent_whole=*/false);
  EXPECT_EQ(p.OnFailure(AttemptFailure::kSendFailed, true), RetryAction::kGiveUp);
  EXPECT_EQ(p.OnFailure(AttemptFailure::kConnectFailed, false), RetryAction::kGiveUp);
}

TEST(RetryPolicy, AttemptsAreBounded) {
  RetryPolicy p(true, true);
  int tries = 0;
  while (p.OnFailure(AttemptFailure::kSendFailed, true) != RetryAction::kGiveUp) ++tries;
  EXPECT_EQ(tries, RetryPolicy::kMaxAttempts - 1);
  EXPECT_EQ(p.attempts(), RetryPolicy::kMaxAttempts);
}

}  // namespace
}  // namespace gravity::proxy
