#pragma once

// Keep-alive client connections parked between requests (Session::Compact), held in an
// epoll set of the worker's own rather than in the event loop's: a parked connection then
// costs the process nothing but its ParkedConn block — no per-socket event-loop state, no
// pending operation scattered on the heap — and the event loop watches the whole set as
// one descriptor. When parked connections have bytes, EOF or an error, the lot calls
// on_ready with each one's key; the owner then takes the descriptor out (Remove) and
// serves it, or closes it.
// Thread-safety: a lot belongs to one worker thread.

#include <functional>

#include "common/status.h"
#include "proxy/internal.h"

namespace gravity::proxy {

class ParkingLot {
 public:
  // Ready connections are taken `batch` at a time, at most `batches_per_turn` batches per
  // turn of the event loop (the rest in the next turn, so that running sessions go on).
  ParkingLot(asio::io_context& io, std::function<void(void* key)> on_ready, int batch = 64,
             int batches_per_turn = 16);
  ~ParkingLot();
  ParkingLot(const ParkingLot&) = delete;
  ParkingLot& operator=(const ParkingLot&) = delete;

  // Watches `fd` for reading; the caller keeps it open until Remove. An error (the set
  // could not be created, or the kernel refused the descriptor) leaves `fd` untouched.
  Status Add(int fd, void* key);
  void Remove(int fd);

 private:
  void Arm();
  void Drain();

  std::function<void(void*)> on_ready_;
  const int batch_;
  const int batches_per_turn_;
  asio::posix::stream_descriptor set_;  // the epoll descriptor
  Status open_;
};

}  // namespace gravity::proxy
