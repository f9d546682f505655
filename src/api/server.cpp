#include "api/server.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <cstring>

#include "common/net.h"

namespace gravity::api {

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

void SetTimeouts(int fd, int ms) {
  timeval tv{ms / 1000, (ms % 1000) * 1000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

Result<sockaddr_storage> Resolve(const std::string& host, std::uint16_t port, socklen_t* len) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  std::string h = host;
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  int rc = ::getaddrinfo(h.c_str(), std::to_string(port).c_str(), &hints, &res);
  if (rc != 0 || !res) {
    return Status::Error("cannot resolve '" + host + "': " + gai_strerror(rc));
  }
  sockaddr_storage ss{};
  std::memcpy(&ss, res->ai_addr, res->ai_addrlen);
  *len = res->ai_addrlen;
  ::freeaddrinfo(res);
  return ss;
}

// A request that could not be read: the status to answer it with (0: just close), and why.
std::pair<int, std::string> ReadFailure(const beast::error_code& ec, std::size_t buffered,
                                        std::size_t max_body_bytes) {
  if (ec == http::error::body_limit) {
    return {413, "request body larger than " + std::to_string(max_body_bytes) + " bytes"};
  }
  if (ec == http::error::header_limit) return {431, "request headers too large"};
  if (ec != http::error::end_of_stream && ec != asio::error::eof &&
      ec != asio::error::connection_reset && buffered > 0) {
    return {400, "malformed HTTP request: " + ec.message()};
  }
  return {0, ""};
}

// Answers a request that could not be read, then lets the client finish sending (up to
// 64 MiB, or 2 s of silence) so that it reads the answer instead of a reset.
void AnswerAndDrain(tcp::socket& socket, int status, const std::string& message) {
  http::response<http::string_body> res{static_cast<http::status>(status), 11};
  res.set(http::field::content_type, "application/json");
  res.set(http::field::connection, "close");
  res.body() = Response::Error(status, message).body;
  res.prepare_payload();
  beast::error_code wec;
  socket.non_blocking(false, wec);
  http::write(socket, res, wec);
  socket.shutdown(tcp::socket::shutdown_send, wec);
  socket.non_blocking(true, wec);
  char sink[16384];
  std::size_t drained = 0;
  for (int idle = 0; idle < 10 && drained < (64u << 20);) {
    std::size_t n = socket.read_some(asio::buffer(sink), wec);
    if (wec == asio::error::would_block || wec == asio::error::try_again) {
      if (!WaitReadable(socket.native_handle(), std::chrono::milliseconds(200))) ++idle;
      continue;
    }
    if (wec) break;
    drained += n;
  }
}

// The router's view of a parsed request: header names lowercased.
Request ToRequest(http::request<http::string_body>& msg) {
  Request req;
  req.method = std::string(msg.method_string());
  req.target = std::string(msg.target());
  for (const auto& field : msg) {
    std::string name(field.name_string());
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    req.headers[name] = std::string(field.value());
  }
  req.body = std::move(msg.body());
  return req;
}

}  // namespace

HttpServer::HttpServer(const Router& router, ServerOptions options)
    : router_(router), options_(std::move(options)) {}

HttpServer::~HttpServer() { Stop(); }

Status HttpServer::Start() {
  socklen_t len = 0;
  ASSIGN_OR_RETURN(sockaddr_storage addr, Resolve(options_.host, options_.port, &len));
  std::string where = options_.host + ":" + std::to_string(options_.port);
  int fd = ::socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::Error("socket for " + where + ": " + std::strerror(errno));
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0 || ::listen(fd, 128) != 0) {
    std::string err = std::strerror(errno);
    ::close(fd);
    return Status::Error("cannot listen on " + where + ": " + err);
  }
  sockaddr_storage bound{};
  socklen_t blen = sizeof bound;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &blen);
  port_ = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                            : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  listen_fd_ = fd;
  acceptor_ = std::thread([this] { AcceptLoop(); });
  return Status::Ok();
}

void HttpServer::Stop() {
  if (stopping_.exchange(true)) return;
  if (acceptor_.joinable()) acceptor_.join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  listen_fd_ = -1;
  // Connection threads notice stopping_ within their read timeout slice.
  for (int i = 0; i < 600 && active_.load() > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

void HttpServer::AcceptLoop() {
  while (!stopping_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    if (active_.load() >= options_.max_connections) {
      static const char kBusy[] =
          "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
          "Connection: close\r\nContent-Length: 48\r\n\r\n"
          "{\"ok\":false,\"error\":\"too many API connections\"}";
      [[maybe_unused]] ssize_t n = ::send(fd, kBusy, sizeof kBusy - 1, MSG_NOSIGNAL);
      ::close(fd);
      continue;
    }
    if (options_.refuse_local_uid) {
      auto uid = LocalPeerUid(fd);
      if (uid && options_.refuse_local_uid(*uid)) {
        // Closed unanswered, at once: waiting to read the request first would let such a
        // client hold the accept loop.
        ::close(fd);
        continue;
      }
    }
    ++active_;
    std::thread([this, fd] {
      Serve(fd);
      --active_;
    }).detach();
  }
}

void HttpServer::Serve(int fd) {
  sockaddr_storage local{};
  socklen_t local_len = sizeof local;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len);
  asio::io_context io;
  tcp::socket socket(io);
  beast::error_code ec;
  socket.assign(local.ss_family == AF_INET6 ? tcp::v6() : tcp::v4(), fd, ec);
  if (ec) {
    ::close(fd);
    return;
  }
  // Reads are non-blocking and waited for here in slices, so a stopping server and idle
  // or slow clients are noticed; writes block.
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(options_.max_body_bytes);
    parser.header_limit(static_cast<std::uint32_t>(options_.max_header_bytes));
    int waited_ms = 0;
    socket.non_blocking(true, ec);
    if (ec) break;
    for (;;) {
      http::read(socket, buffer, parser, ec);
      if ((ec == asio::error::would_block || ec == asio::error::try_again) && !stopping_ &&
          waited_ms < options_.read_timeout_ms) {
        if (!WaitReadable(fd, std::chrono::milliseconds(200))) waited_ms += 200;
        ec = {};
        continue;
      }
      break;
    }
    beast::error_code mode_ec;
    socket.non_blocking(false, mode_ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) break;  // idle
    if (ec) {
      auto [status, message] = ReadFailure(ec, buffer.size(), options_.max_body_bytes);
      if (status) AnswerAndDrain(socket, status, message);
      break;
    }
    auto& msg = parser.get();
    Request req = ToRequest(msg);
    Response r = router_.Handle(std::move(req));
    if (r.stream) {
      ServeStream(fd, r, *r.stream);
      break;
    }
    http::response<http::string_body> res{static_cast<http::status>(r.status), msg.version()};
    res.set(http::field::server, "gravity");
    res.set(http::field::content_type, r.content_type);
    for (const auto& [k, v] : r.headers) res.set(k, v);
    bool keep = msg.keep_alive() && !stopping_;
    res.keep_alive(keep);
    res.body() = std::move(r.body);
    res.prepare_payload();
    http::write(socket, res, ec);
    if (ec || !keep) break;
  }
  beast::error_code ignored;
  socket.shutdown(tcp::socket::shutdown_both, ignored);
  socket.close(ignored);
}

void HttpServer::ServeStream(int fd, const Response& head, const EventStream& stream) {
  Clock& clock = options_.clock ? *options_.clock : Clock::Real();
  using std::chrono::milliseconds;
  std::string out =
      "HTTP/1.1 200 OK\r\nServer: gravity\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
      "Cache-Control: no-cache, no-store\r\nConnection: close\r\nX-Accel-Buffering: no\r\n";
  for (const auto& [k, v] : head.headers) out += k + ": " + v + "\r\n";
  out += "\r\nretry: " + std::to_string(stream.retry.count()) + "\n\n";
  SseBuffer buffer(stream.max_buffer_bytes);
  bool more = true;
  auto now = clock.Now();
  auto next_poll = now;
  auto last_write = now;     // last time bytes left (heartbeat timing)
  auto stalled_since = now;  // since when `out` has waited for the client
  bool stalled = false;
  while (!stopping_) {
    now = clock.Now();
    if (more && now >= next_poll && buffer.size() < buffer.max_bytes()) {
      more = stream.poll(buffer);
      next_poll = now + stream.poll_interval;
    }
    // `out` holds at most one buffer's worth: the buffer is only emptied into it when it
    // has been written, so a slow client bounds what is kept for it.
    if (out.empty()) out = buffer.Take();
    if (out.empty() && !more) break;  // ended and all written
    if (out.empty() && now - last_write >= stream.heartbeat) out = ": heartbeat\n\n";
    if (!out.empty()) {
      ssize_t n = ::send(fd, out.data(), out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        out.erase(0, static_cast<std::size_t>(n));
        last_write = now;
        stalled = false;
      } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        break;  // the client went away
      }
      if (!out.empty()) {
        if (!stalled) stalled_since = now;
        stalled = true;
        if (now - stalled_since >= stream.write_timeout) break;  // takes nothing: dropped
      }
    }
    // Sleep until the next poll or heartbeat, a client that can take more, or one that
    // closed (readable with nothing to read); at most 200 ms, to notice a stopping server.
    auto until =
        std::min(more ? next_poll : now + milliseconds(200), last_write + stream.heartbeat);
    auto wait = std::chrono::duration_cast<milliseconds>(until - clock.Now()).count();
    wait = std::clamp<long long>(wait, 0, 200);
    pollfd p{fd, static_cast<short>(POLLIN | (out.empty() ? 0 : POLLOUT)), 0};
    int ready = ::poll(&p, 1, static_cast<int>(wait));
    if (ready > 0 && (p.revents & (POLLERR | POLLHUP))) break;
    if (ready > 0 && (p.revents & POLLIN)) {
      char sink[4096];
      ssize_t got = ::recv(fd, sink, sizeof sink, MSG_DONTWAIT);
      if (got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        break;  // closed by the client (what it sends otherwise is ignored)
      }
    }
  }
}

Result<ClientResponse> HttpCall(const std::string& address, const std::string& method,
                                const std::string& target, const std::string& body,
                                const std::string& token, int timeout_ms) {
  std::size_t colon = address.rfind(':');
  if (colon == std::string::npos) return Status::Error("bad address '" + address + "'");
  std::string host = address.substr(0, colon);
  int port = std::atoi(address.substr(colon + 1).c_str());
  socklen_t len = 0;
  ASSIGN_OR_RETURN(sockaddr_storage addr, Resolve(host, static_cast<std::uint16_t>(port), &len));
  int fd = ::socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::Error(std::string("socket: ") + std::strerror(errno));
  SetTimeouts(fd, timeout_ms);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    std::string err = std::strerror(errno);
    ::close(fd);
    return Status::Error("cannot reach the gravity daemon at " + address + ": " + err +
                         " (is it running?)");
  }
  asio::io_context io;
  tcp::socket socket(io);
  beast::error_code ec;
  socket.assign(addr.ss_family == AF_INET6 ? tcp::v6() : tcp::v4(), fd, ec);
  if (ec) {
    ::close(fd);
    return Status::Error("socket: " + ec.message());
  }
  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  req.set(http::field::host, address);
  req.set(http::field::user_agent, "gravity-cli");
  if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
  if (!body.empty()) req.set(http::field::content_type, "application/json");
  req.body() = body;
  req.prepare_payload();
  http::write(socket, req, ec);
  if (ec) return Status::Error("sending to " + address + ": " + ec.message());
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(256u << 20);
  http::read(socket, buffer, parser, ec);
  if (ec) return Status::Error("reading the answer of " + address + ": " + ec.message());
  ClientResponse out;
  out.status = parser.get().result_int();
  out.body = std::move(parser.get().body());
  beast::error_code ignored;
  socket.shutdown(tcp::socket::shutdown_both, ignored);
  return out;
}

}  // namespace gravity::api
