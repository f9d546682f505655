#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>

namespace gravity {

// The one source of time for logic. Production uses RealClock; tests drive FakeClock.
// Thread-safe: both implementations may be called from any thread.
class Clock {
 public:
  using Duration = std::chrono::steady_clock::duration;
  using TimePoint = std::chrono::steady_clock::time_point;
  virtual ~Clock() = default;
  // Monotonic time, for deadlines and durations.
  virtual TimePoint Now() const = 0;
  // Wall-clock time, for records shown to users.
  virtual std::chrono::system_clock::time_point WallNow() const = 0;
  // WallNow() in milliseconds since the Unix epoch: the time stamps of stored records.
  std::int64_t WallMs() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(WallNow().time_since_epoch())
        .count();
  }
  // Waits `d`: the real clock sleeps; a fake one moves its time on instead. Logic that
  // polls waits through this, never through std::this_thread::sleep_for.
  virtual void SleepFor(Duration d) = 0;

  // The process-wide real clock.
  static Clock& Real();
};

class RealClock final : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::steady_clock::now(); }
  std::chrono::system_clock::time_point WallNow() const override {
    return std::chrono::system_clock::now();
  }
  void SleepFor(Duration d) override;
};

class FakeClock final : public Clock {
 public:
  TimePoint Now() const override {
    std::lock_guard lock(mutex_);
    return now_;
  }
  std::chrono::system_clock::time_point WallNow() const override {
    std::lock_guard lock(mutex_);
    return wall_;
  }
  // Returns at once, the fake time `d` later.
  void SleepFor(Duration d) override { Advance(d); }
  void Advance(Duration d) {
    std::lock_guard lock(mutex_);
    now_ += d;
    wall_ += std::chrono::duration_cast<std::chrono::system_clock::duration>(d);
  }

 private:
  mutable std::mutex mutex_;
  TimePoint now_{std::chrono::hours(1)};                       // guarded by mutex_
  std::chrono::system_clock::time_point wall_{std::chrono::hours(24 * 365 * 50)};  // guarded
};

}  // namespace gravity
