#include "common/status.h"

#include <gtest/gtest.h>

namespace gravity {
namespace {

TEST(Status, OkHasNoCodeAndNoMessage) {
  Status st;
  EXPECT_TRUE(st.ok());
  EXPECT_EQ(st.code(), Status::Code::kOk);
  EXPECT_EQ(st.message(), "");
}

TEST(Status, ErrorIsUnknownEvenWithAnEmptyMessage) {
  EXPECT_FALSE(Status::Error("").ok());
  EXPECT_EQ(Status::Error("boom").code(), Status::Code::kUnknown);
  EXPECT_FALSE(Status::Error("boom").IsNotFound());
}

TEST(Status, EachConstructorSetsItsCode) {
  EXPECT_TRUE(Status::NotFound("x").IsNotFound());
  EXPECT_TRUE(Status::InvalidArgument("x").IsInvalidArgument());
  EXPECT_TRUE(Status::Conflict("x").IsConflict());
  EXPECT_TRUE(Status::FailedPrecondition("x").IsFailedPrecondition());
  EXPECT_TRUE(Status::Unavailable("x").IsUnavailable());
  EXPECT_TRUE(Status::Interrupted("x").IsInterrupted());
  EXPECT_EQ(Status::WithCode(Status::Code::kConflict, "x").code(), Status::Code::kConflict);
  // kOk is no error code: an error built with it is still an error.
  EXPECT_FALSE(Status::WithCode(Status::Code::kOk, "x").ok());
}

TEST(Status, PrefixedKeepsTheCode) {
  Status st = Status::NotFound("no service 'a'").Prefixed("proxy");
  EXPECT_TRUE(st.IsNotFound());
  EXPECT_EQ(st.message(), "proxy: no service 'a'");
  EXPECT_TRUE(Status::Ok().Prefixed("x").ok());
}

TEST(Status, ResultCarriesTheCodeOfItsError) {
  Result<std::string> r = Status::Unavailable("down");
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsUnavailable());
  EXPECT_EQ(r.error(), "down");
  Result<std::string> v = std::string("up");
  EXPECT_TRUE(v.status().ok());
  EXPECT_EQ(*v, "up");
}

}  // namespace
}  // namespace gravity
