#include "proxy/takeover.h"

#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "common/net.h"

namespace gravity::proxy {

namespace {

using asio::awaitable;
using asio::use_awaitable;
namespace local = asio::local;

// Version 1 handed over [listen, metrics?]; version 2 names each descriptor's role in order.
constexpr std::string_view kHello1 = "gravity-takeover 1\n";
constexpr std::string_view kHello2 = "gravity-takeover 2";
constexpr std::string_view kReady = "ready\n";
constexpr int kMaxFds = 3;

std::string Errno(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

// Sends the hello ("gravity-takeover 2 listen https metrics\n") with the descriptors.
bool SendFds(int sock, const InheritedSockets& s) {
  int fds[kMaxFds];
  int n = 0;
  std::string hello(kHello2);
  auto add = [&](int fd, const char* role) {
    if (fd < 0) return;
    fds[n++] = fd;
    hello += " ";
    hello += role;
  };
  add(s.listen_fd, "listen");
  add(s.https_fd, "https");
  add(s.metrics_fd, "metrics");
  hello += "\n";
  char control[CMSG_SPACE(sizeof(fds))] = {};
  iovec iov{hello.data(), hello.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = CMSG_SPACE(sizeof(int) * n);
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int) * n);
  std::memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
  return ::sendmsg(sock, &msg, MSG_NOSIGNAL) == static_cast<ssize_t>(hello.size());
}

// Gives each received descriptor its role from the hello; false when the hello is not one.
bool AssignRoles(std::string_view hello, const int* fds, std::size_t count, InheritedSockets* out) {
  std::vector<std::string_view> roles;
  if (hello == kHello1) {
    roles = {"listen", "metrics"};
  } else if (hello.size() > kHello2.size() && hello.substr(0, kHello2.size()) == kHello2 &&
             hello.back() == '\n') {
    std::string_view rest = hello.substr(kHello2.size(), hello.size() - kHello2.size() - 1);
    while (!rest.empty()) {
      rest.remove_prefix(1);  // the space
      std::size_t end = rest.find(' ');
      roles.push_back(rest.substr(0, end));
      rest = end == std::string_view::npos ? std::string_view() : rest.substr(end);
    }
  } else {
    return false;
  }
  for (std::size_t i = 0; i < count; ++i) {
    std::string_view role = i < roles.size() ? roles[i] : "";
    int* slot = role == "listen"    ? &out->listen_fd
                : role == "https"   ? &out->https_fd
                : role == "metrics" ? &out->metrics_fd
                                    : nullptr;
    if (slot && *slot < 0) {
      *slot = fds[i];
    } else {
      ::close(fds[i]);  // a role this version does not know
    }
  }
  return true;
}

}  // namespace

std::string TakeoverPath(const std::string& control_socket) {
  return control_socket + ".takeover";
}

Result<InheritedSockets> ReceiveSockets(const std::string& takeover_path,
                                        std::chrono::milliseconds timeout) {
  int sock = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (sock < 0) return Status::Error(Errno("socket"));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (takeover_path.size() >= sizeof(addr.sun_path)) {
    ::close(sock);
    return Status::Error("takeover socket path too long: " + takeover_path);
  }
  std::memcpy(addr.sun_path, takeover_path.c_str(), takeover_path.size() + 1);
  if (::connect(sock, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    std::string why = Errno(("no running proxy to take over at " + takeover_path).c_str());
    ::close(sock);
    return Status::Error(why);
  }
  if (!WaitReadable(sock, timeout)) {
    ::close(sock);
    return Status::Error("the running proxy sent no sockets within " +
                         std::to_string(timeout.count()) + "ms");
  }
  char buf[128];
  char control[CMSG_SPACE(sizeof(int) * kMaxFds)] = {};
  iovec iov{buf, sizeof(buf)};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  ssize_t n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  int fds[kMaxFds] = {-1, -1, -1};
  std::size_t count = 0;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    count = std::min<std::size_t>((c->cmsg_len - CMSG_LEN(0)) / sizeof(int), kMaxFds);
    std::memcpy(fds, CMSG_DATA(c), sizeof(int) * count);
  }
  InheritedSockets out;
  out.channel_fd = sock;
  const std::string_view hello(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
  const bool known = AssignRoles(hello, fds, count, &out);
  if (!known || out.listen_fd < 0) {
    if (!known) {
      for (std::size_t i = 0; i < count; ++i) ::close(fds[i]);
    }
    for (int fd : {out.listen_fd, out.https_fd, out.metrics_fd}) {
      if (fd >= 0) ::close(fd);
    }
    ::close(sock);
    return Status::Error("the process at " + takeover_path + " did not hand over sockets");
  }
  return out;
}

Status SignalReady(int channel_fd) {
  ssize_t n = ::send(channel_fd, kReady.data(), kReady.size(), MSG_NOSIGNAL);
  ::close(channel_fd);
  if (n != static_cast<ssize_t>(kReady.size())) return Status::Error(Errno("takeover: ready"));
  return Status::Ok();
}

// ---- the old process's side --------------------------------------------------------------

Status TakeoverServer::Start(const std::string& path, InheritedSockets sockets,
                             std::function<void()> on_ready) {
  sockets_ = sockets;
  on_ready_ = std::move(on_ready);
  auto bound = BindReplacing(acceptor_, path, 4);
  if (!bound.ok()) return bound.status();
  path_ = path;
  inode_ = *bound;
  asio::co_spawn(acceptor_.get_executor(), AcceptLoop(), asio::detached);
  return Status::Ok();
}

void TakeoverServer::Close() {
  error_code ec;
  acceptor_.close(ec);
  if (!path_.empty()) UnlinkIfOurs(path_, inode_);
  path_.clear();
}

awaitable<void> TakeoverServer::AcceptLoop() {
  error_code ec;
  for (;;) {
    local::stream_protocol::socket sock(acceptor_.get_executor());
    co_await acceptor_.async_accept(sock, asio::redirect_error(use_awaitable, ec));
    if (ec) {
      if (!acceptor_.is_open() || ec == asio::error::operation_aborted) co_return;
      continue;
    }
    asio::co_spawn(acceptor_.get_executor(), Serve(std::move(sock)), asio::detached);
  }
}

awaitable<void> TakeoverServer::Serve(local::stream_protocol::socket sock) {
  if (!SendFds(sock.native_handle(), sockets_)) {
    spdlog::warn("proxy: takeover: sending the sockets failed: {}", std::strerror(errno));
    co_return;
  }
  spdlog::info("proxy: takeover: sockets handed to a new process; serving until it is ready");
  char buf[16];
  std::string got;
  error_code ec;
  while (got.size() < kReady.size()) {
    std::size_t n =
        co_await sock.async_read_some(asio::buffer(buf), asio::redirect_error(use_awaitable, ec));
    if (ec) break;
    got.append(buf, n);
  }
  if (got.rfind(kReady, 0) != 0) {
    spdlog::warn("proxy: takeover: the new process went away before it was ready; still serving");
    co_return;
  }
  spdlog::info("proxy: takeover: the new process is ready; finishing in-flight requests");
  if (on_ready_) on_ready_();
}

// ---- socket files ------------------------------------------------------------------------

Result<unsigned long> BindReplacing(local::stream_protocol::acceptor& acceptor,
                                    const std::string& path, int backlog) {
  const std::string temp = path + ".new";
  ::unlink(temp.c_str());
  error_code ec;
  mode_t old_mask = ::umask(0077);
  acceptor.open(local::stream_protocol(), ec);
  if (!ec) acceptor.bind(local::stream_protocol::endpoint(temp), ec);
  ::umask(old_mask);
  if (!ec) ::chmod(temp.c_str(), 0600);
  if (!ec) acceptor.listen(backlog, ec);
  if (ec) return Status::Error("cannot listen on " + path + ": " + ec.message());
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    std::string why = Errno(("cannot put the socket in place at " + path).c_str());
    ::unlink(temp.c_str());
    return Status::Error(why);
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return Status::Error(Errno(("stat " + path).c_str()));
  return static_cast<unsigned long>(st.st_ino);
}

void UnlinkIfOurs(const std::string& path, unsigned long inode) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && static_cast<unsigned long>(st.st_ino) == inode) {
    ::unlink(path.c_str());
  }
}

}  // namespace gravity::proxy
