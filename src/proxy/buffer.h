#pragma once

// A byte buffer read into at the end and consumed at the front. Holds no memory until the
// first read and after Release(): an idle keep-alive connection costs no buffer.
// A Buffer must not outlive the BufferPool it was made with.
// Thread-safety: none (owned by one session or connection).

#include <algorithm>
#include <cstring>
#include <memory>
#include <string_view>
#include <vector>

#include "proxy/internal.h"

namespace gravity::proxy {

// Spare buffers of one size, kept by a worker so that connections waiting in the upstream
// pool hold none: a connection takes one when it reads and gives it back when it idles.
class BufferPool {
 public:
  explicit BufferPool(std::size_t size, std::size_t keep = 64) : size_(size), keep_(keep) {}
  std::size_t size() const { return size_; }
  std::unique_ptr<char[]> Get() {
    if (spare_.empty()) return std::unique_ptr<char[]>(new char[size_]);
    std::unique_ptr<char[]> b = std::move(spare_.back());
    spare_.pop_back();
    return b;
  }
  void Put(std::unique_ptr<char[]> b) {
    if (spare_.size() < keep_) spare_.push_back(std::move(b));
  }

 private:
  std::size_t size_;
  std::size_t keep_;
  std::vector<std::unique_ptr<char[]>> spare_;
};

class Buffer {
 public:
  explicit Buffer(std::size_t initial_cap) : initial_cap_(initial_cap) {}
  // A buffer whose first block comes from (and on Release goes back to) `pool`.
  explicit Buffer(BufferPool* pool) : pool_(pool), initial_cap_(pool->size()) {}
  std::string_view view() const { return {data_.get() + begin_, end_ - begin_}; }
  std::size_t size() const { return end_ - begin_; }
  bool empty() const { return begin_ == end_; }
  bool held() const { return data_ != nullptr; }  // memory is held (Release frees it)
  void Consume(std::size_t n) {
    begin_ += n;
    if (begin_ >= end_) begin_ = end_ = 0;
  }
  // Room to read into: compacts, and grows up to max_cap. Empty when full at max_cap.
  asio::mutable_buffer Space(std::size_t max_cap) {
    if (!data_) {
      if (pool_ && max_cap >= pool_->size()) {
        data_ = pool_->Get();
        cap_ = pool_->size();
      } else {
        cap_ = std::min(initial_cap_, max_cap);
        data_.reset(new char[cap_]);
      }
    }
    if (end_ == cap_ && begin_ > 0) {
      std::memmove(data_.get(), data_.get() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    if (end_ == cap_ && cap_ < max_cap) {
      std::size_t cap = std::min(cap_ * 2, max_cap);
      std::unique_ptr<char[]> d(new char[cap]);
      std::memcpy(d.get(), data_.get(), end_);
      data_ = std::move(d);
      cap_ = cap;
    }
    return asio::buffer(data_.get() + end_, cap_ - end_);
  }
  void Commit(std::size_t n) { end_ += n; }
  // Frees the memory when empty (the next Space() allocates again).
  void Release() {
    if (!empty()) return;
    if (pool_ && data_ && cap_ == pool_->size()) pool_->Put(std::move(data_));
    data_.reset();
    cap_ = begin_ = end_ = 0;
  }
  // When empty and grown past `cap`, goes back to nothing held (see Release).
  void Shrink(std::size_t cap) {
    if (cap_ > cap) Release();
  }

 private:
  std::unique_ptr<char[]> data_;
  BufferPool* pool_ = nullptr;
  std::size_t initial_cap_;
  std::size_t cap_ = 0;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
};

}  // namespace gravity::proxy
