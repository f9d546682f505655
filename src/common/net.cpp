#include "common/net.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

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

bool UnixSocketAnswers(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    ::close(fd);
    return false;
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
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

// `ss` as the kernel may list it: as itself, and an IPv4 address also as IPv4-mapped IPv6
// (a client's socket is listed in the table of its own family, whatever it connected to).
std::vector<std::pair<bool, std::string>> ListedForms(const sockaddr_storage& ss) {
  std::vector<std::pair<bool, std::string>> out;  // (in tcp6, text)
  sockaddr_storage v4{};
  bool have_v4 = false;
  if (ss.ss_family == AF_INET) {
    v4 = ss;
    have_v4 = true;
  } else if (ss.ss_family == AF_INET6) {
    out.push_back({true, ProcNetAddress(ss)});
    const auto& a6 = reinterpret_cast<const sockaddr_in6&>(ss);
    if (IN6_IS_ADDR_V4MAPPED(&a6.sin6_addr)) {
      auto& a4 = reinterpret_cast<sockaddr_in&>(v4);
      a4.sin_family = AF_INET;
      a4.sin_port = a6.sin6_port;
      std::memcpy(&a4.sin_addr, a6.sin6_addr.s6_addr + 12, 4);
      have_v4 = true;
    }
  }
  if (have_v4) {
    const auto& a4 = reinterpret_cast<const sockaddr_in&>(v4);
    out.push_back({false, ProcNetAddress(v4)});
    sockaddr_storage mapped{};
    auto& m = reinterpret_cast<sockaddr_in6&>(mapped);
    m.sin6_family = AF_INET6;
    m.sin6_port = a4.sin_port;
    m.sin6_addr.s6_addr[10] = 0xff;
    m.sin6_addr.s6_addr[11] = 0xff;
    std::memcpy(m.sin6_addr.s6_addr + 12, &a4.sin_addr, 4);
    if (ss.ss_family == AF_INET) out.push_back({true, ProcNetAddress(mapped)});
  }
  return out;
}

std::optional<unsigned> FindOwner(const std::vector<std::pair<bool, std::string>>& locals,
                                  const std::vector<std::pair<bool, std::string>>& remotes) {
  for (bool six : {false, true}) {
    std::ifstream in(six ? "/proc/net/tcp6" : "/proc/net/tcp");
    std::string line;
    std::getline(in, line);  // the header
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::string sl, loc, rem, st, queues, timer, retransmits;
      unsigned uid = 0;
      if (!(fields >> sl >> loc >> rem >> st >> queues >> timer >> retransmits >> uid)) continue;
      bool local_match = false, remote_match = false;
      for (const auto& [t6, text] : locals) local_match |= t6 == six && text == loc;
      for (const auto& [t6, text] : remotes) remote_match |= t6 == six && text == rem;
      if (local_match && remote_match) return uid;
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<unsigned> LocalPeerUid(int fd) {
  sockaddr_storage local{}, peer{};
  socklen_t ll = sizeof local, pl = sizeof peer;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &ll) != 0 ||
      ::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &pl) != 0) {
    return std::nullopt;
  }
  // The peer's own socket, if it is on this host (whatever its source address: a local
  // process may bind any of the host's addresses): its local address is our peer, its
  // remote address is us. Looked for twice: the tables are not read atomically.
  const auto locals = ListedForms(peer), remotes = ListedForms(local);
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (auto uid = FindOwner(locals, remotes)) return uid;
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

bool WaitReadable(int fd, std::chrono::milliseconds timeout) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, static_cast<int>(timeout.count())) == 1;
}

}  // namespace gravity
