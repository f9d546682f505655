#include "proxy/block_pool.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <set>
#include <vector>

namespace gravity::proxy {
namespace {

TEST(BlockPoolTest, BlocksAreDistinctAlignedAndWholeAcrossChunks) {
  BlockPool pool(170, 4);  // 4 blocks per chunk: 10 blocks need 3 chunks
  EXPECT_GE(pool.block_size(), 170u);
  EXPECT_EQ(pool.block_size() % alignof(std::max_align_t), 0u);
  std::vector<void*> blocks;
  std::set<std::uintptr_t> starts;
  for (int i = 0; i < 10; ++i) {
    void* b = pool.Get();
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(b) % alignof(std::max_align_t), 0u);
    std::memset(b, i, pool.block_size());  // a block overlapping another would corrupt it
    blocks.push_back(b);
    starts.insert(reinterpret_cast<std::uintptr_t>(b));
  }
  EXPECT_EQ(starts.size(), 10u);
  for (int i = 0; i < 10; ++i) {
    const auto* bytes = static_cast<const unsigned char*>(blocks[static_cast<std::size_t>(i)]);
    for (std::size_t j = 0; j < pool.block_size(); ++j) {
      ASSERT_EQ(bytes[j], static_cast<unsigned char>(i)) << "block " << i << " byte " << j;
    }
  }
  for (void* b : blocks) pool.Put(b);
}

#if !defined(__SANITIZE_ADDRESS__)
TEST(BlockPoolTest, AFreedBlockIsTheNextOneHandedOut) {
  BlockPool pool(64);
  void* a = pool.Get();
  void* b = pool.Get();
  pool.Put(a);
  EXPECT_EQ(pool.Get(), a);
  pool.Put(b);
  pool.Put(a);
  EXPECT_EQ(pool.Get(), a);
  EXPECT_EQ(pool.Get(), b);
  pool.Put(a);
  pool.Put(b);
}
#endif

TEST(BlockPoolTest, TinyObjectsStillGetABlockThatHoldsTheFreeListLink) {
  BlockPool pool(1);
  EXPECT_GE(pool.block_size(), sizeof(void*));
  void* a = pool.Get();
  void* b = pool.Get();
  EXPECT_NE(a, b);
  pool.Put(a);
  pool.Put(b);
}

}  // namespace
}  // namespace gravity::proxy
