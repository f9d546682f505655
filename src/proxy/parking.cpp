// Running and parking sessions: a worker runs each client connection as a Session; one
// idle past the trim parks — a plain-HTTP one compacted to a ParkedConn in the worker's
// ParkingLot (out of the event loop), a TLS one whole behind a read wait — and its next
// request (or EOF) makes it a running session again.

#include <spdlog/spdlog.h>
#include <unistd.h>

#include "proxy/session.h"

namespace gravity::proxy {

ParkedConn::ParkedConn(Worker::Impl& w_in, int fd_in, bool v6_in)
    : w(w_in), fd(fd_in), v6(v6_in) {
  watch.parked = this;
  w.watches.Add(&watch);
}

ParkedConn::~ParkedConn() {
  WatchList::Remove(&watch);
  if (fd >= 0) {
    w.lot.Remove(fd);
    ::close(fd);
  }
  if (!handed_on) w.SessionEnded();
}

void* ParkedConn::operator new(std::size_t n, BlockPool& pool) {
  if (n > pool.block_size()) throw std::bad_alloc();
  return pool.Get();
}

void ParkedConn::operator delete(void* p, BlockPool& pool) { pool.Put(p); }

void ParkedConn::operator delete(ParkedConn* p, std::destroying_delete_t) {
  BlockPool& pool = p->w.parked_blocks;
  p->~ParkedConn();
  pool.Put(p);
}

namespace {

// The deadline state of a connection moving between a Session and a ParkedConn.
void CopyDeadline(const Watch& from, Watch* to) {
  to->at = from.at;
  to->fired = from.fired;
  to->idle_client = from.idle_client;
  to->idle_since = from.idle_since;
  to->trimmed = from.trimmed;
}

}  // namespace

ParkedConn* Session::Compact(std::unique_ptr<Session>& s) {
  if (s->tls_ || !s->buf_.empty()) return nullptr;
  Worker::Impl& w = s->w_;
  const int fd = s->sock_.native_handle();
  auto* p = new (w.parked_blocks) ParkedConn(w, fd, s->v6_);
  if (!w.lot.Add(fd, p).ok()) {  // the session waits itself, as a TLS one does
    p->fd = -1;
    p->handed_on = true;
    delete p;
    return nullptr;
  }
  error_code ec;
  s->sock_.release(ec);  // out of the event loop: the lot watches it now
  CopyDeadline(s->watch_, &p->watch);
  p->client_ip = std::move(s->client_ip_);
  p->served = s->served_;
  s->handed_on_ = true;
  s.reset();
  return p;
}

std::unique_ptr<Session> Session::Wake(std::unique_ptr<ParkedConn> p) {
  Worker::Impl& w = p->w;
  w.lot.Remove(p->fd);
  tcp::socket sock(w.io);
  error_code ec;
  sock.assign(p->v6 ? tcp::v6() : tcp::v4(), p->fd, ec);
  if (ec) {
    spdlog::warn("proxy: cannot resume a parked connection: {}", ec.message());
    return nullptr;  // p closes it
  }
  p->fd = -1;
  std::unique_ptr<Session> s(new Session(w, std::move(sock), false));
  CopyDeadline(p->watch, &s->watch_);
  s->client_ip_ = std::move(p->client_ip);
  s->v6_ = p->v6;
  s->served_ = p->served;
  s->started_ = true;
  p->handed_on = true;
  return s;
}

// ---- the worker runs sessions and parks them ----------------------------------------

// Takes over the count the acceptor raised when it handed the connection over (the
// session gives it back when it is destroyed).
void Worker::Impl::Serve(tcp::socket sock, bool tls) {
  Resume(std::make_unique<Session>(*this, std::move(sock), tls));
}

std::size_t Worker::Impl::ParkedSize() { return sizeof(ParkedConn); }

void Worker::Impl::Resume(std::unique_ptr<Session> s) {
  Session* raw = s.get();
  asio::co_spawn(io, raw->Run(),
                 [this, s = std::move(s)](const std::exception_ptr& e, bool parked) mutable {
                   if (!e && parked) Park(std::move(s));
                 });
}

// A parked TLS session is owned by its read wait: when bytes (or EOF) arrive it runs again;
// when the sweep closes the socket (idle timeout, shutdown) it is destroyed. A compacted
// plain-HTTP one belongs to the lot (Unparked) or to the sweep (its deadline).
void Worker::Impl::Park(std::unique_ptr<Session> s) {
  if (Session::Compact(s)) {
    ++parked_since_trim;
    return;
  }
  tcp::socket& sock = s->socket();
  sock.async_wait(tcp::socket::wait_read, [this, s = std::move(s)](error_code ec) mutable {
    if (ec || s->timed_out() || !s->socket().is_open()) return;
    Resume(std::move(s));
  });
}

void Worker::Impl::Unparked(void* key) {
  // (One whose deadline passed is not here: the sweep destroys it at once.)
  std::unique_ptr<Session> s =
      Session::Wake(std::unique_ptr<ParkedConn>(static_cast<ParkedConn*>(key)));
  if (s) Resume(std::move(s));
}

void Worker::Impl::CloseParked() {
  watches.ForEach([](Watch* w) { delete w->parked; });
}

}  // namespace gravity::proxy
