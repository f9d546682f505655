#include "pipeline/webhook.h"

#include <gtest/gtest.h>

namespace gravity::pipeline {
namespace {

TEST(Webhook, GithubPublishedVector) {
  EXPECT_EQ(HmacSha256Hex("It's a Secret to Everybody", "Hello, World!"),
            "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17");
  EXPECT_TRUE(
      VerifySignature("It's a Secret to Everybody", "Hello, World!",
                      "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"));
}

TEST(Webhook, RejectsWrongMissingOrMalformedSignatures) {
  const std::string good =
      "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
  EXPECT_FALSE(VerifySignature("another secret", "Hello, World!", good));
  EXPECT_FALSE(VerifySignature("It's a Secret to Everybody", "Hello, World?", good));
  EXPECT_FALSE(VerifySignature("It's a Secret to Everybody", "Hello, World!", ""));
  EXPECT_FALSE(VerifySignature("It's a Secret to Everybody", "Hello, World!",
                               good.substr(7)));  // no prefix
  EXPECT_FALSE(VerifySignature("It's a Secret to Everybody", "Hello, World!",
                               good.substr(0, good.size() - 1)));  // truncated
  EXPECT_FALSE(VerifySignature("It's a Secret to Everybody", "Hello, World!",
                               "sha1=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4"));
}

TEST(Webhook, ParsesPushEvent) {
  auto ev = ParsePushEvent(R"({"ref":"refs/heads/staging","after":")" + std::string(40, 'a') +
                           R"(","deleted":false})");
  ASSERT_TRUE(ev.ok()) << ev.error();
  EXPECT_EQ(ev->branch, "staging");
  EXPECT_EQ(ev->after, std::string(40, 'a'));
  EXPECT_FALSE(ev->deleted);

  auto tag = ParsePushEvent(R"({"ref":"refs/tags/v1","after":"")"
                            "}");
  ASSERT_TRUE(tag.ok());
  EXPECT_EQ(tag->branch, "");

  auto del = ParsePushEvent(R"({"ref":"refs/heads/x","after":")" + std::string(40, '0') + "\"}");
  ASSERT_TRUE(del.ok());
  EXPECT_TRUE(del->deleted);
}

TEST(Webhook, MalformedPushEventIsAnError) {
  EXPECT_FALSE(ParsePushEvent("{not json").ok());
  EXPECT_FALSE(ParsePushEvent("[1,2]").ok());
  auto no_ref = ParsePushEvent(R"({"after":"x"})");
  ASSERT_FALSE(no_ref.ok());
  EXPECT_NE(no_ref.error().find("ref"), std::string::npos);
}

}  // namespace
}  // namespace gravity::pipeline
