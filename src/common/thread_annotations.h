#pragma once

// Clang's thread-safety analysis (-Wthread-safety), as LevelDB's port/thread_annotations.h:
// locked state says which mutex guards it, functions say which they need. Other compilers
// see nothing. std::mutex carries no annotations in libstdc++, so locked state uses the
// small Mutex / MutexLock wrappers below.
#include <chrono>
#include <condition_variable>
#include <mutex>

#if defined(__clang__)
#define GRAVITY_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define GRAVITY_THREAD_ANNOTATION(x)
#endif

#define CAPABILITY(x) GRAVITY_THREAD_ANNOTATION(capability(x))
#define SCOPED_CAPABILITY GRAVITY_THREAD_ANNOTATION(scoped_lockable)
#define GUARDED_BY(x) GRAVITY_THREAD_ANNOTATION(guarded_by(x))
#define PT_GUARDED_BY(x) GRAVITY_THREAD_ANNOTATION(pt_guarded_by(x))
#define REQUIRES(...) GRAVITY_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define EXCLUDES(...) GRAVITY_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define ACQUIRE(...) GRAVITY_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define RELEASE(...) GRAVITY_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define TRY_ACQUIRE(...) GRAVITY_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
#define RETURN_CAPABILITY(x) GRAVITY_THREAD_ANNOTATION(lock_returned(x))
#define NO_THREAD_SAFETY_ANALYSIS GRAVITY_THREAD_ANNOTATION(no_thread_safety_analysis)

namespace gravity {

// A std::mutex the analysis knows (also Lockable, for std::unique_lock where needed).
class CAPABILITY("mutex") Mutex {
 public:
  void lock() ACQUIRE() { m_.lock(); }
  void unlock() RELEASE() { m_.unlock(); }
  bool try_lock() TRY_ACQUIRE(true) { return m_.try_lock(); }
  // Waits on `cv` until notified or `timeout` passed (spurious wake-ups possible: callers
  // re-check their condition in a loop). Held on entry and on return.
  template <typename Rep, typename Period>
  void WaitFor(std::condition_variable& cv, std::chrono::duration<Rep, Period> timeout)
      REQUIRES(this) {
    std::unique_lock<std::mutex> lock(m_, std::adopt_lock);
    cv.wait_for(lock, timeout);
    lock.release();
  }

 private:
  std::mutex m_;
};

// Holds a Mutex for its scope (std::lock_guard for Mutex, visible to the analysis).
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& m) ACQUIRE(m) : m_(m) { m_.lock(); }
  ~MutexLock() RELEASE() { m_.unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex& m_;
};

}  // namespace gravity
