#pragma once

// Handing a running proxy's listening sockets to a new proxy process, so that a restart or
// an upgrade has no gap (`gravity proxy run --takeover`):
//
//   new process                                 old process (serving CONTROL)
//   connects to CONTROL.takeover  ───────────▶  sends its listening sockets (SCM_RIGHTS)
//   accepts on them too, restores the routes,
//   binds CONTROL anew (rename over the path)
//   sends "ready"                 ───────────▶  stops accepting, finishes in-flight
//                                               requests (each connection's next response
//                                               says Connection: close), exits
//
// Until "ready" arrives the old process changes nothing: a new process that fails to start
// leaves it serving exactly as before. The socket file of the handover is 0600 like the
// control socket: only the proxy's own user may take it over.
// Thread-safety: the functions are blocking and called from one thread; TakeoverServer
// runs on the control thread's io_context.

#include <chrono>
#include <functional>
#include <string>

#include "common/status.h"
#include "proxy/internal.h"

namespace gravity::proxy {

// CONTROL -> CONTROL.takeover
std::string TakeoverPath(const std::string& control_socket);

// What the new process received.
struct InheritedSockets {
  int listen_fd = -1;   // the HTTP listener
  int https_fd = -1;    // the HTTPS listener, or -1
  int metrics_fd = -1;  // the metrics listener, or -1
  int channel_fd = -1;  // the connection to the old process ("ready" goes here)
};

// Connects to the old process and receives its sockets. Fails with a reason when no proxy
// serves `takeover_path`, or it sends nothing within `timeout`.
Result<InheritedSockets> ReceiveSockets(const std::string& takeover_path,
                                        std::chrono::milliseconds timeout);
// Tells the old process to stop accepting and finish; closes the channel.
Status SignalReady(int channel_fd);

// The old process's side: serves `path`, hands its listening sockets (channel_fd unused;
// -1: none) to whoever connects, and calls `on_ready` when that process says it is ready.
class TakeoverServer {
 public:
  explicit TakeoverServer(asio::io_context& io) : acceptor_(io) {}
  Status Start(const std::string& path, InheritedSockets sockets, std::function<void()> on_ready);
  void Close();  // stops offering; removes the socket file unless a successor replaced it

 private:
  asio::awaitable<void> AcceptLoop();
  asio::awaitable<void> Serve(asio::local::stream_protocol::socket sock);

  asio::local::stream_protocol::acceptor acceptor_;
  std::string path_;
  unsigned long inode_ = 0;
  InheritedSockets sockets_;
  std::function<void()> on_ready_;
};

// Binds a Unix socket at `path` without a moment where `path` is missing or refuses
// connections: binds PATH.new, listens, then renames it over PATH. Returns the inode of
// the new file, for UnlinkIfOurs.
Result<unsigned long> BindReplacing(asio::local::stream_protocol::acceptor& acceptor,
                                    const std::string& path, int backlog);
// Removes `path` only if it is still the socket file we bound (a successor may have
// replaced it).
void UnlinkIfOurs(const std::string& path, unsigned long inode);

}  // namespace gravity::proxy
