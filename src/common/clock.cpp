#include "common/clock.h"

#include <thread>

namespace gravity {

void RealClock::SleepFor(Duration d) { std::this_thread::sleep_for(d); }

Clock& Clock::Real() {
  static RealClock clock;
  return clock;
}

}  // namespace gravity
