#include "runtime/ports.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

namespace gravity::runtime {

PortAllocator::PortAllocator(int first, int last, unsigned seed)
    : first_(first), last_(last), next_(first) {
  if (seed == 0) seed = static_cast<unsigned>(::getpid()) * 2654435761u;
  if (last_ >= first_)
    next_ = first_ + static_cast<int>(seed % static_cast<unsigned>(last_ - first_ + 1));
}

bool PortAllocator::PortFree(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

Result<int> PortAllocator::Allocate() {
  MutexLock lock(mutex_);
  int span = last_ - first_ + 1;
  for (int i = 0; i < span; ++i) {
    int port = next_;
    next_ = next_ >= last_ ? first_ : next_ + 1;
    if (held_.count(port)) continue;
    if (!PortFree(port)) continue;
    held_.insert(port);
    return port;
  }
  return Status::Error("no free port in " + std::to_string(first_) + "-" + std::to_string(last_));
}

void PortAllocator::Reserve(int port) {
  MutexLock lock(mutex_);
  held_.insert(port);
}

int FreePortRun(int count) {
  for (int base = 61000 + (::getpid() * 37) % 3000; base + count <= 65000; base += count) {
    bool free = true;
    for (int p = base; p < base + count && free; ++p) free = PortAllocator::PortFree(p);
    if (free) return base;
  }
  return 64000;
}

void PortAllocator::Release(int port) {
  MutexLock lock(mutex_);
  held_.erase(port);
}

}  // namespace gravity::runtime
