#include "support/raw_target.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>

namespace gravity::test {

namespace {

bool WriteAll(int fd, const std::string& bytes) {
  std::size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<std::size_t>(n);
  }
  return true;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// How many bytes of `buf` the body of the request with head `head` takes, or npos while it
// is incomplete. Enough for the tests' own requests: Content-Length, or a chunked body
// ending in a last-chunk without trailers.
std::size_t BodyLength(const std::string& head, const std::string& buf) {
  std::string h = Lower(head);
  if (h.find("\r\ntransfer-encoding: chunked") != std::string::npos) {
    if (buf.rfind("0\r\n\r\n", 0) == 0) return 5;
    std::size_t end = buf.find("\r\n0\r\n\r\n");
    return end == std::string::npos ? std::string::npos : end + 7;
  }
  std::size_t cl = h.find("\r\ncontent-length:");
  if (cl == std::string::npos) return 0;
  std::size_t n = std::strtoul(h.c_str() + cl + 17, nullptr, 10);
  return buf.size() >= n ? n : std::string::npos;
}

}  // namespace

std::string SimpleResponse(int status, const std::string& body, const std::string& extra) {
  return "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n" + extra + "\r\n" + body;
}

RawTarget::RawTarget(Handler handler) : handler_(std::move(handler)) {}

RawTarget::~RawTarget() { Stop(); }

bool RawTarget::Start() {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
      ::listen(listen_fd_, 64) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    return false;
  }
  port_ = ntohs(a.sin_port);
  acceptor_ = std::thread([this] { AcceptLoop(); });
  return true;
}

void RawTarget::Stop() {
  if (stopping_.exchange(true)) return;
  if (listen_fd_ >= 0) ::shutdown(listen_fd_, SHUT_RDWR);
  if (acceptor_.joinable()) acceptor_.join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  std::vector<std::thread> conns;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (int fd : conn_fds_) ::shutdown(fd, SHUT_RDWR);
    conns.swap(conns_);
  }
  for (auto& t : conns) t.join();
}

void RawTarget::AcceptLoop() {
  while (!stopping_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    std::lock_guard<std::mutex> l(mu_);
    conn_fds_.push_back(fd);
    conns_.emplace_back([this, fd] { Serve(fd); });
  }
}

void RawTarget::Serve(int fd) {
  std::string buf;
  char tmp[4096];
  bool open = true;
  while (open && !stopping_) {
    std::size_t end;
    while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
      ssize_t n = ::recv(fd, tmp, sizeof(tmp), 0);
      if (n <= 0) {
        open = false;
        break;
      }
      buf.append(tmp, static_cast<std::size_t>(n));
    }
    if (!open) break;
    std::string head = buf.substr(0, end);
    buf.erase(0, end + 4);
    std::size_t body;
    while ((body = BodyLength(head, buf)) == std::string::npos) {
      ssize_t n = ::recv(fd, tmp, sizeof(tmp), 0);
      if (n <= 0) {
        open = false;
        break;
      }
      buf.append(tmp, static_cast<std::size_t>(n));
    }
    if (!open) break;
    buf.erase(0, body);
    {
      std::lock_guard<std::mutex> l(mu_);
      heads_.push_back(head);
    }
    RawReply r = handler_(head);
    if (!WriteAll(fd, r.bytes)) break;
    if (!r.later.empty()) {
      std::this_thread::sleep_for(r.delay);  // a real server's timing, not a test wait
      if (!WriteAll(fd, r.later)) break;
    }
    if (r.close) break;
  }
  ::shutdown(fd, SHUT_RDWR);
  std::lock_guard<std::mutex> l(mu_);
  conn_fds_.erase(std::remove(conn_fds_.begin(), conn_fds_.end(), fd), conn_fds_.end());
  ::close(fd);
}

std::vector<std::string> RawTarget::requests() const {
  std::lock_guard<std::mutex> l(mu_);
  return heads_;
}

std::size_t RawTarget::Received(const std::string& needle) const {
  std::lock_guard<std::mutex> l(mu_);
  return static_cast<std::size_t>(std::count_if(heads_.begin(), heads_.end(), [&](const auto& h) {
    return h.find(needle) != std::string::npos;
  }));
}

}  // namespace gravity::test
