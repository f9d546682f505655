#include "supervise/restart_policy.h"

#include <algorithm>

#include "common/duration.h"

namespace gravity::supervise {

std::string RestartDecision::Describe() const {
  if (!restart) {
    return "crash loop: " + std::to_string(quick_exits) +
           " quick exits in a row; not restarting";
  }
  if (delay.count() == 0) return "restart now";
  return "restart in " + FormatDuration(delay);
}

RestartDecision RestartPolicy::OnExit(std::chrono::milliseconds ran) {
  if (ran >= options_.stable_after) quick_exits_ = 0;
  ++quick_exits_;
  RestartDecision d;
  d.quick_exits = quick_exits_;
  if (quick_exits_ >= options_.crash_loop_limit) return d;  // give up
  d.restart = true;
  if (quick_exits_ == 1) return d;  // after a healthy run (or the first failure): at once
  auto delay = options_.initial_backoff;
  for (int i = 2; i < quick_exits_ && delay < options_.max_backoff; ++i) delay *= 2;
  d.delay = std::min(delay, options_.max_backoff);
  return d;
}

}  // namespace gravity::supervise
