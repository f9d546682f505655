#pragma once

#include <chrono>
#include <string>

namespace gravity::supervise {

// When a supervised process exits, whether and when to start it again. A pure state
// machine: fed how long each run lasted, it returns a decision; time is never read here.
//
// A run that lasted at least `stable_after` was healthy: the next exit restarts at once
// (kill -9 of a proxy that served for hours must be back within the second). Runs shorter
// than that are quick exits: each one in a row doubles the delay (initial_backoff,
// 2x, 4x, ... capped at max_backoff) and after `crash_loop_limit` of them in a row the
// process is declared crash-looping and not restarted until Reset().
struct RestartPolicyOptions {
  std::chrono::milliseconds stable_after{5'000};
  std::chrono::milliseconds initial_backoff{100};
  std::chrono::milliseconds max_backoff{10'000};
  int crash_loop_limit = 5;  // quick exits in a row (the first one included)
};

struct RestartDecision {
  bool restart = false;                 // false: crash loop, give up
  std::chrono::milliseconds delay{0};   // when restart: wait this long first
  int quick_exits = 0;                  // quick exits in a row, this one included
  std::string Describe() const;         // "restart now", "restart in 400ms", "crash loop: ..."
};

class RestartPolicy {
 public:
  explicit RestartPolicy(RestartPolicyOptions options = {}) : options_(options) {}

  // The process exited after running for `ran`.
  RestartDecision OnExit(std::chrono::milliseconds ran);
  // Forget past exits (an operator asked to try again).
  void Reset() { quick_exits_ = 0; }
  int quick_exits() const { return quick_exits_; }
  const RestartPolicyOptions& options() const { return options_; }

 private:
  RestartPolicyOptions options_;
  int quick_exits_ = 0;
};

}  // namespace gravity::supervise
