#include "proxy/upstream_pool.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

namespace gravity::proxy {

bool Quiet(tcp::socket& sock) {
  char byte;
  ssize_t n = ::recv(sock.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

std::unique_ptr<UpstreamConn> UpstreamPool::Take(const Target& t) {
  auto it = idle_.find(t.id);
  if (it == idle_.end()) return nullptr;
  while (!it->second.empty()) {
    std::unique_ptr<UpstreamConn> c = std::move(it->second.back());
    it->second.pop_back();
    if (c->sock.is_open() && Quiet(c->sock)) return c;
  }
  return nullptr;
}

void UpstreamPool::Put(std::unique_ptr<UpstreamConn> c, Clock::TimePoint now) {
  if (!c->sock.is_open() || !c->buf.empty() ||
      c->target->draining.load(std::memory_order_relaxed) ||
      c->target->retired.load(std::memory_order_relaxed)) {
    return;  // the socket closes with the object
  }
  auto& v = idle_[c->target->id];
  if (v.size() >= limits_.max_idle_upstream_per_target) return;
  WatchList::Remove(&c->watch);
  c->buf.Release();
  c->idle_since = now;
  c->watch.fired = false;
  c->await_response = false;
  v.push_back(std::move(c));
}

void UpstreamPool::DropTarget(std::uint64_t target_id) { idle_.erase(target_id); }

void UpstreamPool::Prune(const RouteTable& table) {
  std::vector<std::uint64_t> live;
  for (const auto& s : table.services) {
    for (const PoolSnapshot* p : {s->main.get(), s->canary.get(), s->baseline.get()}) {
      if (!p) continue;
      for (const auto& t : p->targets) live.push_back(t->id);
    }
  }
  std::erase_if(idle_, [&](const auto& entry) {
    return std::find(live.begin(), live.end(), entry.first) == live.end();
  });
}

void UpstreamPool::Sweep(Clock::TimePoint now) {
  for (auto it = idle_.begin(); it != idle_.end();) {
    auto& v = it->second;
    std::erase_if(v, [&](const std::unique_ptr<UpstreamConn>& c) {
      return c->idle_since + limits_.upstream_idle_timeout <= now;
    });
    it = v.empty() ? idle_.erase(it) : std::next(it);
  }
  CloseReadable();
}

// One poll() over every idle connection: readable means stray bytes, EOF or an error.
void UpstreamPool::CloseReadable() {
  poll_fds_.clear();
  for (auto& [id, v] : idle_) {
    for (auto& c : v) poll_fds_.push_back(pollfd{c->sock.native_handle(), POLLIN, 0});
  }
  if (poll_fds_.empty() || ::poll(poll_fds_.data(), poll_fds_.size(), 0) <= 0) return;
  std::size_t i = 0;
  for (auto it = idle_.begin(); it != idle_.end();) {
    auto& v = it->second;
    std::erase_if(v, [&](const std::unique_ptr<UpstreamConn>&) {
      return poll_fds_[i++].revents != 0;
    });
    it = v.empty() ? idle_.erase(it) : std::next(it);
  }
}

}  // namespace gravity::proxy
