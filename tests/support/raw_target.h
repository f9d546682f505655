#pragma once

// A scripted HTTP/1.1 target for hostile-backend tests: a real TCP server on 127.0.0.1 that
// reads each request head and answers with whatever bytes its handler chooses — including
// bytes no correct server sends (a second response nobody asked for, a tunnel's data). It
// records every request head it received, so a test can assert what reached it.
// Thread-safety: Start/Stop on one thread; requests()/Received() from any thread.

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace gravity::test {

struct RawReply {
  std::string bytes;                     // written right after the request head arrived
  std::string later;                     // written `delay` after `bytes` (if not empty)
  std::chrono::milliseconds delay{150};  //
  bool close = false;                    // close the connection after writing
};

class RawTarget {
 public:
  // `handler` gets the request head (request line + fields, without the blank line) and
  // returns what to send back. Bodies (Content-Length, or chunked without trailers) are
  // read and skipped.
  using Handler = std::function<RawReply(const std::string& head)>;
  explicit RawTarget(Handler handler);
  ~RawTarget();
  RawTarget(const RawTarget&) = delete;
  RawTarget& operator=(const RawTarget&) = delete;

  bool Start();  // listens on a free port; false on failure
  void Stop();   // closes the listener and every connection, joins the threads
  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  std::vector<std::string> requests() const;  // every request head received, in order
  std::size_t Received(const std::string& needle) const;  // heads containing `needle`

 private:
  void AcceptLoop();
  void Serve(int fd);

  Handler handler_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  mutable std::mutex mu_;
  std::vector<std::thread> conns_;   // guarded by mu_
  std::vector<int> conn_fds_;        // guarded by mu_
  std::vector<std::string> heads_;   // guarded by mu_
};

// A reply: status line, optional extra header lines (each ending in CRLF), and a
// Content-Length body.
std::string SimpleResponse(int status, const std::string& body, const std::string& extra = "");

}  // namespace gravity::test
