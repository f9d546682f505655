#pragma once

#include <functional>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "api/router.h"
#include "common/status.h"

namespace gravity::api {

struct ServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;                // 0: any free port (see port())
  std::size_t max_body_bytes = 4 << 20;  // larger bodies get 413
  std::size_t max_header_bytes = 16 << 10;
  int max_connections = 64;     // more are answered 503 and closed
  int read_timeout_ms = 30000;  // idle keep-alive / slow request limit
  // Connections from loopback whose owning uid this returns true for are closed before
  // anything is read (the daemon refuses sandboxed apps, which share the
  // host's loopback).
  std::function<bool(unsigned uid)> refuse_local_uid;
};

// A small blocking HTTP/1.1 server (Beast) for the daemon's API: one thread accepts, one
// thread per connection (bounded) reads requests, asks the Router, writes responses.
// Thread-safe: Start/Stop from one owner thread; the router is read-only while running.
class HttpServer {
 public:
  HttpServer(const Router& router, ServerOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  Status Start();  // binds and listens; errors name the address
  void Stop();     // stops accepting and waits for connections to finish
  std::uint16_t port() const { return port_; }

 private:
  void AcceptLoop();
  void Serve(int fd);
  void WriteStream(int fd, const Response& r);  // a streamed answer, then the end

  const Router& router_;
  const ServerOptions options_;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> active_{0};
  std::thread acceptor_;
};

// Blocking client for the API (used by the CLI). `address` is "host:port".
struct ClientResponse {
  int status = 0;
  std::string body;
};
Result<ClientResponse> HttpCall(const std::string& address, const std::string& method,
                                const std::string& target, const std::string& body = "",
                                const std::string& token = "", int timeout_ms = 60000);

}  // namespace gravity::api
