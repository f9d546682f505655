#include "proxy/buffer.h"

#include <gtest/gtest.h>

#include <cstring>

namespace gravity::proxy {
namespace {

void Put(Buffer& b, std::string_view s) {
  auto space = b.Space(1 << 20);
  ASSERT_GE(space.size(), s.size());
  std::memcpy(space.data(), s.data(), s.size());
  b.Commit(s.size());
}

TEST(Buffer, HoldsNothingUntilTheFirstReadAndAfterRelease) {
  BufferPool pool(64);
  Buffer b(&pool);
  EXPECT_FALSE(b.held());
  Put(b, "GET / HTTP/1.1\r\n\r\n");
  EXPECT_TRUE(b.held());
  b.Release();  // not empty: kept
  EXPECT_TRUE(b.held());
  EXPECT_EQ(b.view(), "GET / HTTP/1.1\r\n\r\n");
  b.Consume(b.size());
  EXPECT_TRUE(b.empty());
  EXPECT_TRUE(b.held());  // consumed, but the memory stays for the next request
  b.Release();
  EXPECT_FALSE(b.held());
}

TEST(Buffer, GrowsToItsCapAndShrinkGoesBackToNothingHeld) {
  Buffer b(std::size_t{8});
  Put(b, "12345678");
  auto space = b.Space(32);  // full at 8: doubles
  EXPECT_EQ(space.size(), 8u);
  b.Commit(8);
  EXPECT_EQ(b.Space(16).size(), 0u);  // full at its cap
  b.Consume(16);
  b.Shrink(8);
  EXPECT_FALSE(b.held());
}

TEST(Buffer, CompactsWhatIsLeftToTheFront) {
  Buffer b(std::size_t{8});
  Put(b, "abcdefgh");
  b.Consume(6);
  auto space = b.Space(8);  // full at its cap: "gh" moves to the front
  EXPECT_EQ(space.size(), 6u);
  EXPECT_EQ(b.view(), "gh");
}

}  // namespace
}  // namespace gravity::proxy
