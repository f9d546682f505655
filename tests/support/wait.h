#pragma once

#include <chrono>
#include <functional>

namespace gravity::test {

// Polls `condition` every `interval` until it returns true or `timeout` has passed; returns
// its last value. Use generous timeouts: the machine may be loaded. The condition runs on the
// calling thread.
bool WaitFor(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
             std::chrono::milliseconds interval = std::chrono::milliseconds(10));

}  // namespace gravity::test
