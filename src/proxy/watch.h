#pragma once

// Deadlines without a timer operation per request: every socket in use has a Watch (its
// deadline) in an intrusive per-worker list. The worker's sweep (every 100 ms) closes each
// socket whose deadline passed (or cancels the timer of a wait without a socket); the coroutine blocked on that socket then sees its
// operation fail and `fired` set. The sweep also trims client connections that have been
// idle for a while (their buffers are freed; see Session::TrimIdle).
// Thread-safety: a WatchList and its Watches belong to one worker thread.

#include "common/clock.h"
#include "proxy/internal.h"

namespace gravity::proxy {

struct ParkedConn;

struct Watch {
  Watch* prev = nullptr;
  Watch* next = nullptr;
  Clock::TimePoint at = Clock::TimePoint::max();
  tcp::socket* sock = nullptr;
  bool fired = false;
  bool idle_client = false;        // a client connection waiting for its next request
  Clock::TimePoint idle_since{};   // when idle_client was set
  bool trimmed = false;            // the sweep cancelled the idle client's read to trim it
  std::uint64_t target_id = 0;     // an upstream connection: its target
  // A wait with no socket of its own (an HTTP/2 stream waiting for its client's window or
  // body): the sweep cancels this timer instead when the deadline passes.
  asio::steady_timer* timer = nullptr;
  // A parked connection (out of the event loop, see parking_lot.h): the sweep destroys it
  // when the deadline passes, which closes it.
  ParkedConn* parked = nullptr;
};

class WatchList {
 public:
  WatchList() { head_.next = head_.prev = &head_; }
  WatchList(const WatchList&) = delete;
  WatchList& operator=(const WatchList&) = delete;
  void Add(Watch* w) {
    w->next = head_.next;
    w->prev = &head_;
    head_.next->prev = w;
    head_.next = w;
  }
  static void Remove(Watch* w) {
    if (!w->prev) return;
    w->prev->next = w->next;
    w->next->prev = w->prev;
    w->prev = w->next = nullptr;
  }
  template <class F>
  void ForEach(F f) {
    for (Watch* w = head_.next; w != &head_;) {
      Watch* n = w->next;
      f(w);
      w = n;
    }
  }

 private:
  Watch head_;
};

// Keeps a Watch in a list for its scope.
class WatchGuard {
 public:
  WatchGuard(WatchList& l, Watch* w) : watch_(w) { l.Add(w); }
  ~WatchGuard() { WatchList::Remove(watch_); }
  WatchGuard(const WatchGuard&) = delete;
  WatchGuard& operator=(const WatchGuard&) = delete;

 private:
  Watch* watch_;
};

}  // namespace gravity::proxy
