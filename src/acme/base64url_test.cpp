#include "acme/base64url.h"

#include <gtest/gtest.h>

namespace gravity::acme {
namespace {

TEST(AcmeBase64Url, EncodesRfc4648VectorsWithoutPadding) {
  EXPECT_EQ(Base64UrlEncode(""), "");
  EXPECT_EQ(Base64UrlEncode("f"), "Zg");
  EXPECT_EQ(Base64UrlEncode("fo"), "Zm8");
  EXPECT_EQ(Base64UrlEncode("foo"), "Zm9v");
  EXPECT_EQ(Base64UrlEncode("foob"), "Zm9vYg");
  EXPECT_EQ(Base64UrlEncode("fooba"), "Zm9vYmE");
  EXPECT_EQ(Base64UrlEncode("foobar"), "Zm9vYmFy");
}

TEST(AcmeBase64Url, UsesUrlSafeAlphabet) {
  EXPECT_EQ(Base64UrlEncode(std::string("\xfb\xff\xbf", 3)), "-_-_");
  EXPECT_EQ(Base64UrlEncode("{\"alg\":\"ES256\"}"), "eyJhbGciOiJFUzI1NiJ9");
}

TEST(AcmeBase64Url, DecodesWhatItEncodes) {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (std::size_t n = 0; n < 10; ++n) {
    auto decoded = Base64UrlDecode(Base64UrlEncode(all.substr(0, n)));
    ASSERT_TRUE(decoded.has_value());
    EXPECT_EQ(*decoded, all.substr(0, n));
  }
  EXPECT_EQ(Base64UrlDecode(Base64UrlEncode(all)), all);
  EXPECT_EQ(Base64UrlDecode("Zm9vYg=="), "foob");
}

TEST(AcmeBase64Url, RejectsForeignCharactersAndImpossibleLengths) {
  EXPECT_FALSE(Base64UrlDecode("Zm9v+g").has_value());
  EXPECT_FALSE(Base64UrlDecode("Zm/v").has_value());
  EXPECT_FALSE(Base64UrlDecode("Zm9vY").has_value());
}

}  // namespace
}  // namespace gravity::acme
