#include "proxy/parking_lot.h"

#include <sys/epoll.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace gravity::proxy {

namespace {

constexpr int kMaxBatch = 256;

}  // namespace

ParkingLot::ParkingLot(asio::io_context& io, std::function<void(void*)> on_ready, int batch,
                       int batches_per_turn)
    : on_ready_(std::move(on_ready)),
      batch_(std::clamp(batch, 1, kMaxBatch)),
      batches_per_turn_(std::max(batches_per_turn, 1)),
      set_(io) {
  const int fd = ::epoll_create1(EPOLL_CLOEXEC);
  if (fd < 0) {
    open_ = Status::Error(std::string("cannot create the parked-connection set: ") +
                          std::strerror(errno));
    return;
  }
  error_code ec;
  set_.assign(fd, ec);
  if (ec) {
    ::close(fd);
    open_ = Status::Error("cannot watch the parked-connection set: " + ec.message());
    return;
  }
  Arm();
}

ParkingLot::~ParkingLot() {
  error_code ec;
  set_.close(ec);
}

Status ParkingLot::Add(int fd, void* key) {
  if (!open_.ok()) return open_;
  epoll_event ev{};
  // Level-triggered: a connection that became readable before it was added is reported.
  ev.events = EPOLLIN | EPOLLRDHUP;
  ev.data.ptr = key;
  if (::epoll_ctl(set_.native_handle(), EPOLL_CTL_ADD, fd, &ev) != 0) {
    return Status::Error(std::string("cannot park a connection: ") + std::strerror(errno));
  }
  return Status::Ok();
}

void ParkingLot::Remove(int fd) {
  if (open_.ok()) ::epoll_ctl(set_.native_handle(), EPOLL_CTL_DEL, fd, nullptr);
}

void ParkingLot::Arm() {
  set_.async_wait(asio::posix::stream_descriptor::wait_read, [this](error_code ec) {
    if (ec) return;  // closed with the lot
    Drain();
  });
}

// The event loop reports the set once per change (edge-triggered), so each wake takes
// every ready connection. Very many at once are taken a turn at a time, so that sessions
// already running are not held up.
void ParkingLot::Drain() {
  epoll_event events[kMaxBatch];
  for (int turn = 0; turn < batches_per_turn_; ++turn) {
    const int n = ::epoll_wait(set_.native_handle(), events, batch_, 0);
    if (n < 0 && errno == EINTR) continue;
    // Each key's owner removes its descriptor (or closes it) before the next epoll_wait.
    for (int i = 0; i < n; ++i) on_ready_(events[i].data.ptr);
    if (n < batch_) {
      Arm();
      return;
    }
  }
  asio::post(set_.get_executor(), [this] { Drain(); });
}

}  // namespace gravity::proxy
