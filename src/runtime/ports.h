#pragma once

#include "common/thread_annotations.h"

#include <mutex>
#include <set>

#include "common/status.h"

namespace gravity::runtime {

// Hands out ports for instances from a configurable range [first, last]. A port is given
// only when no instance holds it and binding 0.0.0.0:port succeeds right now. The search
// continues after the port handed out last, so a port just given back is not reused at once
// (the proxy never confuses an old target with a new one).
// Thread-safe: all members are guarded by mutex_.
class PortAllocator {
 public:
  // The search starts at a point derived from `seed` (default: this process's pid), so two
  // daemons sharing a range rarely race for the same ports.
  PortAllocator(int first, int last, unsigned seed = 0);

  // A free port, reserved until Release. Error when the whole range is taken.
  Result<int> Allocate();
  // Marks a port as held (e.g. by a re-adopted instance).
  void Reserve(int port);
  void Release(int port);

  int first() const { return first_; }
  int last() const { return last_; }

  // True when binding 0.0.0.0:port (without SO_REUSEADDR) succeeds.
  static bool PortFree(int port);

 private:
  const int first_;
  const int last_;
  Mutex mutex_;
  std::set<int> held_ GUARDED_BY(mutex_);
  int next_ GUARDED_BY(mutex_);
};

// For tests: the first of `count` consecutive ports that are free right now, in
// 61000-64999 (above Linux's default ephemeral range, so outgoing connections do not take
// them meanwhile). Falls back to 64000.
int FreePortRun(int count);

}  // namespace gravity::runtime
