// gravity-bench-idle: holds many idle keep-alive HTTP/1.1 client connections open.
//
//   gravity-bench-idle --port P [--address 127.0.0.1] [--count N] [--host H]
//                      [--ready-file PATH] [--hold-seconds S]
//
// Opens --count connections (in batches), sends `GET / HTTP/1.1` on each and reads the whole
// response, so that every connection has carried a request and sits idle in keep-alive.
// Then prints "ready OPEN failed FAILED", writes the same line to --ready-file, and holds
// until SIGTERM/SIGINT or --hold-seconds (default 600). On exit it prints how many
// connections the server closed while they were held.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

volatile sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }

struct Conn {
  int fd = -1;
  std::string in;
  bool sent = false;
  bool done = false;
  bool failed = false;
};

// True once `in` holds a whole response with a Content-Length body (or a chunked one
// ending in the last chunk).
bool ResponseComplete(const std::string& in) {
  auto end = in.find("\r\n\r\n");
  if (end == std::string::npos) return false;
  std::string head = in.substr(0, end);
  for (auto& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto cl = head.find("\r\ncontent-length:");
  if (cl != std::string::npos) {
    size_t len = std::strtoul(head.c_str() + cl + 17, nullptr, 10);
    return in.size() >= end + 4 + len;
  }
  if (head.find("chunked") != std::string::npos) {
    return in.size() >= 5 && in.compare(in.size() - 5, 5, "0\r\n\r\n") == 0;
  }
  return true;  // no body framing: treat the head as the whole response
}

}  // namespace

int main(int argc, char** argv) {
  std::string address = "127.0.0.1", host = "bench", ready_file;
  int port = 0, count = 10000, hold_seconds = 600;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i], v = argv[i + 1];
    if (a == "--port")
      port = std::atoi(v.c_str());
    else if (a == "--address")
      address = v;
    else if (a == "--count")
      count = std::atoi(v.c_str());
    else if (a == "--host")
      host = v;
    else if (a == "--ready-file")
      ready_file = v;
    else if (a == "--hold-seconds")
      hold_seconds = std::atoi(v.c_str());
    else {
      std::fprintf(stderr, "unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  if (port <= 0 || count <= 0) {
    std::fprintf(stderr, "usage: gravity-bench-idle --port P [--count N]\n");
    return 2;
  }
  ::signal(SIGPIPE, SIG_IGN);
  ::signal(SIGTERM, OnSignal);
  ::signal(SIGINT, OnSignal);
  rlimit rl{};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  rlim_t want = static_cast<rlim_t>(count) + 64;
  if (rl.rlim_cur < want) {
    if (rl.rlim_max < want) rl.rlim_max = want;  // works as root
    rl.rlim_cur = want;
    if (::setrlimit(RLIMIT_NOFILE, &rl) != 0) {
      std::fprintf(stderr, "cannot raise the descriptor limit to %lu: %s\n",
                   static_cast<unsigned long>(want), std::strerror(errno));
      return 1;
    }
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::inet_pton(AF_INET, address.c_str(), &addr.sin_addr) != 1) {
    std::fprintf(stderr, "bad address %s\n", address.c_str());
    return 2;
  }
  const std::string request = "GET / HTTP/1.1\r\nHost: " + host + "\r\n\r\n";
  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  std::vector<Conn> conns(static_cast<size_t>(count));
  int ok = 0, failed = 0;
  const int kBatch = 500;
  auto deadline_for_batch = [] {
    return std::chrono::steady_clock::now() + std::chrono::seconds(30);
  };
  for (int start = 0; start < count && !g_stop; start += kBatch) {
    int end = std::min(count, start + kBatch);
    int pending = 0;
    for (int i = start; i < end; ++i) {
      Conn& c = conns[static_cast<size_t>(i)];
      c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (c.fd < 0) {
        c.failed = true;
        ++failed;
        continue;
      }
      int one = 1;
      ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      int r = ::connect(c.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
      if (r != 0 && errno != EINPROGRESS) {
        ::close(c.fd);
        c.fd = -1;
        c.failed = true;
        ++failed;
        continue;
      }
      epoll_event ev{};
      ev.events = EPOLLOUT | EPOLLIN;
      ev.data.u32 = static_cast<uint32_t>(i);
      ::epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev);
      ++pending;
    }
    auto deadline = deadline_for_batch();
    epoll_event events[256];
    while (pending > 0 && !g_stop && std::chrono::steady_clock::now() < deadline) {
      int n = ::epoll_wait(ep, events, 256, 1000);
      for (int k = 0; k < n; ++k) {
        Conn& c = conns[events[k].data.u32];
        if (c.done || c.failed) continue;
        auto fail = [&] {
          ::epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
          ::close(c.fd);
          c.fd = -1;
          c.failed = true;
          ++failed;
          --pending;
        };
        if (events[k].events & EPOLLERR) {
          fail();
          continue;
        }
        if (!c.sent && (events[k].events & EPOLLOUT)) {
          ssize_t w = ::send(c.fd, request.data(), request.size(), MSG_NOSIGNAL);
          if (w != static_cast<ssize_t>(request.size())) {
            fail();
            continue;
          }
          c.sent = true;
          epoll_event ev{};
          ev.events = EPOLLIN;
          ev.data.u32 = events[k].data.u32;
          ::epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &ev);
        }
        if (events[k].events & (EPOLLIN | EPOLLHUP)) {
          char buf[4096];
          ssize_t r = ::recv(c.fd, buf, sizeof buf, 0);
          if (r <= 0) {
            if (r < 0 && errno == EAGAIN) continue;
            fail();
            continue;
          }
          c.in.append(buf, static_cast<size_t>(r));
          if (ResponseComplete(c.in)) {
            c.done = true;
            c.in.clear();
            c.in.shrink_to_fit();
            ++ok;
            --pending;
            // Keep watching for the server closing it (EPOLLRDHUP) while idle.
            epoll_event ev{};
            ev.events = EPOLLRDHUP;
            ev.data.u32 = events[k].data.u32;
            ::epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &ev);
          }
        }
      }
    }
    for (int i = start; i < end; ++i) {
      Conn& c = conns[static_cast<size_t>(i)];
      if (!c.done && !c.failed) {
        ::epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
        ::close(c.fd);
        c.fd = -1;
        c.failed = true;
        ++failed;
      }
    }
  }
  std::string line = "ready " + std::to_string(ok) + " failed " + std::to_string(failed) + "\n";
  std::fputs(line.c_str(), stdout);
  std::fflush(stdout);
  if (!ready_file.empty()) {
    std::string tmp = ready_file + ".tmp";
    if (FILE* f = std::fopen(tmp.c_str(), "w")) {
      std::fputs(line.c_str(), f);
      std::fclose(f);
      std::rename(tmp.c_str(), ready_file.c_str());
    }
  }
  int closed = 0;
  auto hold_end = std::chrono::steady_clock::now() + std::chrono::seconds(hold_seconds);
  epoll_event events[256];
  while (!g_stop && std::chrono::steady_clock::now() < hold_end) {
    int n = ::epoll_wait(ep, events, 256, 200);
    for (int k = 0; k < n; ++k) {
      Conn& c = conns[events[k].data.u32];
      if (c.fd >= 0) {
        ::epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
        ::close(c.fd);
        c.fd = -1;
        ++closed;
      }
    }
  }
  std::printf("closed by the server while held: %d\n", closed);
  return 0;
}
