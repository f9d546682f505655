#include "common/net.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

namespace gravity {

bool LoopbackPortOpen(int port) {
  if (port <= 0 || port > 65535) return false;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

namespace {

// An address as /proc/net/tcp{,6} prints it: the 32-bit words of the address in host
// order, then the port, e.g. "0100007F:1F90".
std::string ProcNetAddress(const sockaddr_storage& ss) {
  char buf[64];
  if (ss.ss_family == AF_INET) {
    const auto& a = reinterpret_cast<const sockaddr_in&>(ss);
    std::uint32_t w;
    std::memcpy(&w, &a.sin_addr, 4);
    std::snprintf(buf, sizeof buf, "%08X:%04X", w, ntohs(a.sin_port));
    return buf;
  }
  const auto& a = reinterpret_cast<const sockaddr_in6&>(ss);
  std::uint32_t w[4];
  std::memcpy(w, &a.sin6_addr, 16);
  std::snprintf(buf, sizeof buf, "%08X%08X%08X%08X:%04X", w[0], w[1], w[2], w[3],
                ntohs(a.sin6_port));
  return buf;
}

bool IsLoopbackPeer(const sockaddr_storage& ss) {
  if (ss.ss_family == AF_INET) {
    return (ntohl(reinterpret_cast<const sockaddr_in&>(ss).sin_addr.s_addr) >> 24) == 127;
  }
  if (ss.ss_family != AF_INET6) return false;
  const in6_addr& a = reinterpret_cast<const sockaddr_in6&>(ss).sin6_addr;
  if (IN6_IS_ADDR_LOOPBACK(&a)) return true;
  return IN6_IS_ADDR_V4MAPPED(&a) && a.s6_addr[12] == 127;
}

}  // namespace

std::optional<unsigned> LoopbackPeerUid(int fd) {
  sockaddr_storage local{}, peer{};
  socklen_t ll = sizeof local, pl = sizeof peer;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &ll) != 0 ||
      ::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &pl) != 0 || !IsLoopbackPeer(peer)) {
    return std::nullopt;
  }
  // The peer's own socket: its local address is our peer, its remote address is us.
  const std::string want_local = ProcNetAddress(peer), want_remote = ProcNetAddress(local);
  std::ifstream in(peer.ss_family == AF_INET6 ? "/proc/net/tcp6" : "/proc/net/tcp");
  std::string line;
  std::getline(in, line);  // the header
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string sl, loc, rem, st, queues, timer, retransmits;
    unsigned uid = 0;
    if (!(fields >> sl >> loc >> rem >> st >> queues >> timer >> retransmits >> uid)) continue;
    if (loc == want_local && rem == want_remote) return uid;
  }
  return std::nullopt;
}

bool IsLoopbackHost(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host == "localhost") return true;
  std::string text(host);
  in_addr v4{};
  if (::inet_pton(AF_INET, text.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (::inet_pton(AF_INET6, text.c_str(), &v6) == 1) return IN6_IS_ADDR_LOOPBACK(&v6);
  return false;
}

}  // namespace gravity
