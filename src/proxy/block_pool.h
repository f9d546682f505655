#pragma once

// Fixed-size blocks for long-lived objects of one kind (parked client connections), carved
// from chunks of 64, so that they sit together instead of each on its own page between the
// short-lived allocations of requests. A freed block waits in the pool for the next one;
// chunks are kept until the pool is destroyed (the high-water mark of idle connections,
// like a fixed connection table). Under AddressSanitizer every block is a plain
// allocation, so that use-after-free is still caught.
// Thread-safety: one pool belongs to one worker thread.

#include <cstddef>
#include <memory>
#include <new>
#include <vector>

namespace gravity::proxy {

class BlockPool {
 public:
  explicit BlockPool(std::size_t size, std::size_t per_chunk = 64)
      : size_(Round(size)), per_chunk_(per_chunk) {}
  BlockPool(const BlockPool&) = delete;
  BlockPool& operator=(const BlockPool&) = delete;

  std::size_t block_size() const { return size_; }

  void* Get() {
#if defined(__SANITIZE_ADDRESS__)
    return ::operator new(size_);
#else
    if (!free_) Grow();
    FreeBlock* b = free_;
    free_ = b->next;
    return b;
#endif
  }

  void Put(void* p) {
#if defined(__SANITIZE_ADDRESS__)
    ::operator delete(p);
#else
    auto* b = static_cast<FreeBlock*>(p);
    b->next = free_;
    free_ = b;
#endif
  }

 private:
  struct FreeBlock {
    FreeBlock* next;
  };
  static std::size_t Round(std::size_t n) {
    constexpr std::size_t a = alignof(std::max_align_t);
    n = n < sizeof(FreeBlock) ? sizeof(FreeBlock) : n;
    return (n + a - 1) / a * a;
  }
  void Grow() {
    // Not value-initialized: a block's pages are touched when a session first uses it.
    chunks_.emplace_back(new std::max_align_t[size_ * per_chunk_ / sizeof(std::max_align_t)]);
    auto* base = reinterpret_cast<std::byte*>(chunks_.back().get());
    for (std::size_t i = per_chunk_; i-- > 0;) Put(base + i * size_);
  }

  std::size_t size_;
  std::size_t per_chunk_;
  std::vector<std::unique_ptr<std::max_align_t[]>> chunks_;
  FreeBlock* free_ = nullptr;
};

}  // namespace gravity::proxy
