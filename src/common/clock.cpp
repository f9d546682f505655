#include "common/clock.h"

namespace gravity {

Clock& Clock::Real() {
  static RealClock clock;
  return clock;
}

}  // namespace gravity
