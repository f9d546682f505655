#include "common/resource_limits.h"

#include <gtest/gtest.h>

namespace gravity {
namespace {

TEST(ByteSize, ParsesBinaryUnitsCaseInsensitively) {
  EXPECT_EQ(ParseByteSize("512MiB").value(), 512LL << 20);
  EXPECT_EQ(ParseByteSize("2GiB").value(), 2LL << 30);
  EXPECT_EQ(ParseByteSize("64m").value(), 64LL << 20);
  EXPECT_EQ(ParseByteSize("1 KiB").value(), 1024);
  EXPECT_EQ(ParseByteSize("4096").value(), 4096);
}

TEST(ByteSize, RefusesWhatIsNotASize) {
  EXPECT_EQ(ParseByteSize("lots").error(), "'lots' is not a size (e.g. 512MiB, 2GiB)");
  EXPECT_EQ(ParseByteSize("5 parsecs").error(),
            "'5 parsecs': unknown unit 'parsecs' (use KiB, MiB, GiB or TiB)");
  EXPECT_FALSE(ParseByteSize("99999999999TiB").ok());
}

TEST(ByteSize, FormatsInTheLargestEvenUnit) {
  EXPECT_EQ(FormatByteSize(256LL << 20), "256 MiB");
  EXPECT_EQ(FormatByteSize(2LL << 30), "2 GiB");
  EXPECT_EQ(FormatByteSize(1536LL << 10), "1536 KiB");
  EXPECT_EQ(FormatByteSize(1000), "1000 bytes");
}

}  // namespace
}  // namespace gravity
