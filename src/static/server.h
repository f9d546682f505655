#pragma once

// `gravity static`: a small, fast HTTP/1.1 server for the files of one directory.
//
// One thread runs all connections (an Asio io_context); keep-alive and pipelining are
// supported. Small files are kept in memory and revalidated with one stat (at most every
// ServerOptions::revalidate_after);
// large files are sent with sendfile(2). Files are opened with openat2(RESOLVE_BENEATH)
// relative to the served directory, so neither "..", nor encoded traversal, nor a
// symlink leading out can reach a file outside it.
//
// Thread-safety: Run() is called from one thread; Stop() may be called from any thread.
// port() is immutable after Create().

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"

namespace gravity::static_server {

struct ServerOptions {
  std::string root;  // directory to serve
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;                            // 0: any free port (see Server::port())
  std::chrono::milliseconds idle_timeout{60'000};    // keep-alive connection without a request
  std::chrono::milliseconds header_timeout{10'000};  // to receive a whole request head
  std::chrono::milliseconds write_timeout{60'000};   // a response making no progress
  std::chrono::milliseconds shutdown_grace{5'000};   // in-flight responses after Stop()
  int max_connections = 10'000;
  bool handle_signals = false;                  // SIGTERM/SIGINT stop the server gracefully
  std::size_t max_cached_file_bytes = 1 << 20;  // larger files are streamed with sendfile
  std::size_t max_cache_bytes = 64 << 20;
  // A cached file is checked against the disk (one stat) when it was last checked longer
  // ago than this; 0 checks on every request. Changes show within this delay.
  std::chrono::milliseconds revalidate_after{100};
};

class Server {
 public:
  // Checks the directory and binds the listening socket.
  static Result<std::unique_ptr<Server>> Create(ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  std::uint16_t port() const;
  const std::string& root() const;  // absolute, symlinks resolved

  // Serves until Stop() (or a signal when handle_signals). After Stop(), accepting ends,
  // idle connections close, and responses in progress finish (up to shutdown_grace).
  void Run();
  void Stop();

  class Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace gravity::static_server
