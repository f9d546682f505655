#include "cli/api_client.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <cstdlib>
#include <cctype>


namespace gravity::cli {

namespace {

using Clock = std::chrono::steady_clock;

int RemainingMs(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

}  // namespace

ApiClient::ApiClient(std::string host, int port, std::string token)
    : host_(std::move(host)), port_(port), token_(std::move(token)) {}

std::string ApiClient::address() const {
  return (host_.find(':') != std::string::npos ? "[" + host_ + "]" : host_) + ":" +
         std::to_string(port_);
}

Result<ApiResponse> ApiClient::Request(const std::string& method, const std::string& path,
                                       const std::string& body,
                                       std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  std::string port = std::to_string(port_);
  if (int rc = ::getaddrinfo(host_.c_str(), port.c_str(), &hints, &res); rc != 0) {
    return Status::Error("cannot resolve " + host_ + ": " + ::gai_strerror(rc));
  }
  int fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    ::freeaddrinfo(res);
    return Status::Error(std::string("socket: ") + std::strerror(errno));
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  int rc = ::connect(fd, res->ai_addr, res->ai_addrlen);
  ::freeaddrinfo(res);
  if (rc != 0 && errno != EINPROGRESS) {
    return Status::Error("cannot connect to " + address() + ": " + std::strerror(errno));
  }
  pollfd p{fd, POLLOUT, 0};
  if (::poll(&p, 1, RemainingMs(deadline)) <= 0) {
    return Status::Error("cannot connect to " + address() + ": timed out");
  }
  int err = 0;
  socklen_t len = sizeof err;
  ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) return Status::Error("cannot connect to " + address() + ": " + std::strerror(err));

  std::string req = method + " " + path + " HTTP/1.1\r\nHost: " + address() +
                    "\r\nConnection: close\r\nAccept: application/json\r\n";
  if (!token_.empty()) req += "Authorization: Bearer " + token_ + "\r\n";
  if (!body.empty() || method == "POST" || method == "PUT") {
    req += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\n";
  }
  req += "\r\n" + body;
  size_t off = 0;
  while (off < req.size()) {
    ssize_t n = ::send(fd, req.data() + off, req.size() - off, MSG_NOSIGNAL);
    if (n > 0) {
      off += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      pollfd w{fd, POLLOUT, 0};
      if (::poll(&w, 1, RemainingMs(deadline)) <= 0) {
        return Status::Error("request to " + address() + " timed out");
      }
      continue;
    }
    return Status::Error("cannot send to " + address() + ": " + std::strerror(errno));
  }
  std::string raw;
  char buf[16384];
  while (true) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      raw.append(buf, static_cast<size_t>(n));
      if (raw.size() > (64u << 20)) return Status::Error("response from " + address() + " too large");
      continue;
    }
    if (n == 0) break;
    if (errno == EAGAIN || errno == EINTR) {
      pollfd r{fd, POLLIN, 0};
      if (::poll(&r, 1, RemainingMs(deadline)) <= 0) {
        return Status::Error("no response from " + address() + " within " +
                             std::to_string(timeout.count()) + "ms");
      }
      continue;
    }
    return Status::Error("cannot read from " + address() + ": " + std::strerror(errno));
  }
  size_t head_end = raw.find("\r\n\r\n");
  if (raw.compare(0, 9, "HTTP/1.1 ") != 0 && raw.compare(0, 9, "HTTP/1.0 ") != 0) {
    return Status::Error("malformed response from " + address());
  }
  if (head_end == std::string::npos) return Status::Error("truncated response from " + address());
  ApiResponse out;
  out.status = std::atoi(raw.c_str() + 9);
  std::string head = raw.substr(0, head_end);
  std::string payload = raw.substr(head_end + 4);
  // De-chunk when needed (the API may stream with chunked encoding).
  std::string lower = head;
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower.find("transfer-encoding: chunked") != std::string::npos) {
    std::string plain;
    size_t pos = 0;
    while (pos < payload.size()) {
      size_t eol = payload.find("\r\n", pos);
      if (eol == std::string::npos) break;
      size_t n = std::strtoul(payload.substr(pos, eol - pos).c_str(), nullptr, 16);
      if (n == 0) break;
      if (eol + 2 + n > payload.size()) return Status::Error("truncated chunked response");
      plain.append(payload, eol + 2, n);
      pos = eol + 2 + n + 2;
    }
    payload = std::move(plain);
  }
  out.body = std::move(payload);
  return out;
}

}  // namespace gravity::cli
