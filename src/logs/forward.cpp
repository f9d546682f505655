#include "logs/forward.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <tuple>

#include "logs/query.h"

namespace gravity::logs {

namespace {

constexpr std::size_t kBatch = 1000;

std::string Hostname() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || !buf[0]) return "-";
  return buf;
}

// PRINTUSASCII without spaces, at most `max` characters, "-" when empty.
std::string Header(const std::string& s, std::size_t max) {
  std::string out;
  for (unsigned char c : s) {
    if (out.size() >= max) break;
    out += c > 32 && c < 127 ? static_cast<char>(c) : '_';
  }
  return out.empty() ? "-" : out;
}

// An SD-PARAM value: '"', '\' and ']' escaped (RFC 5424 6.3.3).
std::string SdValue(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\' || c == ']') out += '\\';
    out += c;
  }
  return out;
}

std::string TimeMicros(std::int64_t ns) {
  std::string ms = FormatRfc3339Ms(ns);  // ...SS.mmmZ
  char extra[8];
  std::snprintf(extra, sizeof extra, "%03d", static_cast<int>((ns / 1000) % 1000 + 1000) % 1000);
  return ms.substr(0, ms.size() - 1) + extra + "Z";
}

Result<int> Connect(const std::string& host, std::uint16_t port, int type) {
  addrinfo hints{};
  hints.ai_socktype = type;
  addrinfo* res = nullptr;
  int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res);
  if (rc != 0 || !res) return Status::Unavailable("cannot resolve " + host + ": " + gai_strerror(rc));
  int fd = ::socket(res->ai_family, type | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ::freeaddrinfo(res);
    return Status::Unavailable(std::string("socket: ") + std::strerror(errno));
  }
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  rc = ::connect(fd, res->ai_addr, res->ai_addrlen);
  ::freeaddrinfo(res);
  if (rc != 0) {
    std::string err = std::strerror(errno);
    ::close(fd);
    return Status::Unavailable("connect to " + host + ":" + std::to_string(port) + ": " + err);
  }
  return fd;
}

Status SendAll(int fd, const std::string& bytes) {
  std::size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Status::Unavailable(std::string("send: ") + std::strerror(errno));
    off += static_cast<std::size_t>(n);
  }
  return Status::Ok();
}

}  // namespace

std::string Destination::Describe() const {
  switch (kind) {
    case Kind::kSyslogTcp:
      return "syslog tcp://" + host + ":" + std::to_string(port);
    case Kind::kSyslogUdp:
      return "syslog udp://" + host + ":" + std::to_string(port);
    case Kind::kLoki:
      return "loki http://" + host + ":" + std::to_string(port) + path;
    case Kind::kFile:
      return "file " + path;
  }
  return "?";
}

std::string SyslogMessage(const Entry& e, const std::string& hostname) {
  int severity = e.stream == "stderr" ? 3 : 6;  // err : info
  int pri = 1 * 8 + severity;                     // facility user
  std::string msg = "<" + std::to_string(pri) + ">1 " + TimeMicros(e.time_ns) + " " +
                    Header(hostname, 255) + " " + Header(e.app, 48) + " - " +
                    Header(e.source, 32) + " [gravity@32473";
  for (const auto& [k, v] : std::initializer_list<std::pair<const char*, const std::string*>>{
           {"env", &e.env},
           {"release", &e.release},
           {"instance", &e.instance},
           {"stream", &e.stream},
           {"request_id", &e.request_id}}) {
    if (!v->empty()) msg += std::string(" ") + k + "=\"" + SdValue(*v) + "\"";
  }
  msg += "] ";
  msg += e.text;
  return msg;
}

std::string LokiPushBody(const std::vector<Entry>& lines) {
  std::map<std::tuple<std::string, std::string, std::string, std::string>, nlohmann::json> streams;
  for (const auto& e : lines) {
    auto& values = streams[{e.app, e.env, e.release, e.source}];
    if (values.is_null()) values = nlohmann::json::array();
    values.push_back({std::to_string(e.time_ns), e.text});
  }
  nlohmann::json body = {{"streams", nlohmann::json::array()}};
  for (auto& [key, values] : streams) {
    body["streams"].push_back({{"stream",
                                {{"app", std::get<0>(key)},
                                 {"env", std::get<1>(key)},
                                 {"release", std::get<2>(key)},
                                 {"source", std::get<3>(key)}}},
                               {"values", std::move(values)}});
  }
  return body.dump();
}

Forwarder::Forwarder(Destination d, Clock& clock, std::size_t max_queue)
    : d_(std::move(d)), clock_(clock), max_queue_(max_queue), hostname_(Hostname()) {}

Forwarder::~Forwarder() {
  Stop();
  if (tcp_fd_ >= 0) ::close(tcp_fd_);
}

void Forwarder::Start() { thread_ = std::thread([this] { Loop(); }); }

void Forwarder::Stop() {
  {
    MutexLock lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Forwarder::Offer(const std::vector<Entry>& lines) {
  {
    MutexLock lock(mu_);
    for (const auto& e : lines) {
      if (queue_.size() >= max_queue_) {
        queue_.pop_front();
        ++dropped_;
      }
      queue_.push_back(e);
    }
  }
  cv_.notify_all();
}

std::uint64_t Forwarder::sent() const {
  MutexLock lock(mu_);
  return sent_;
}
std::uint64_t Forwarder::dropped() const {
  MutexLock lock(mu_);
  return dropped_;
}
std::size_t Forwarder::queued() const {
  MutexLock lock(mu_);
  return queue_.size();
}
std::string Forwarder::last_error() const {
  MutexLock lock(mu_);
  return last_error_;
}

void Forwarder::Loop() {
  auto backoff = std::chrono::milliseconds(100);
  for (;;) {
    std::vector<Entry> batch;
    {
      MutexLock lock(mu_);
      while (queue_.empty() && !stopping_) mu_.WaitFor(cv_, std::chrono::milliseconds(500));
      if (stopping_) return;
      while (!queue_.empty() && batch.size() < kBatch) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    Status st = Send(batch);
    {
      MutexLock lock(mu_);
      if (st.ok()) {
        sent_ += batch.size();
        last_error_.clear();
        backoff = std::chrono::milliseconds(100);
        continue;
      }
      // Back in front, in order (what does not fit any more is the oldest: dropped).
      last_error_ = st.message();
      for (auto it = batch.rbegin(); it != batch.rend(); ++it) {
        if (queue_.size() >= max_queue_) {
          ++dropped_;
          continue;
        }
        queue_.push_front(std::move(*it));
      }
      if (stopping_) return;
    }
    clock_.SleepFor(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
  }
}

Status Forwarder::Send(const std::vector<Entry>& batch) {
  switch (d_.kind) {
    case Destination::Kind::kSyslogTcp: {
      std::string bytes;
      for (const auto& e : batch) {
        std::string m = SyslogMessage(e, hostname_);
        bytes += std::to_string(m.size()) + " " + m;  // octet counting (RFC 6587 3.4.1)
      }
      return SendTcp(bytes);
    }
    case Destination::Kind::kSyslogUdp:
      return SendUdp(batch);
    case Destination::Kind::kLoki:
      return SendLoki(batch);
    case Destination::Kind::kFile:
      return SendFile(batch);
  }
  return Status::Error("unknown destination");
}

Status Forwarder::SendTcp(const std::string& bytes) {
  if (tcp_fd_ < 0) {
    ASSIGN_OR_RETURN(tcp_fd_, Connect(d_.host, d_.port, SOCK_STREAM));
  }
  Status st = SendAll(tcp_fd_, bytes);
  if (!st.ok()) {
    ::close(tcp_fd_);
    tcp_fd_ = -1;
  }
  return st;
}

Status Forwarder::SendUdp(const std::vector<Entry>& batch) {
  ASSIGN_OR_RETURN(int fd, Connect(d_.host, d_.port, SOCK_DGRAM));
  Status st;
  for (const auto& e : batch) {
    std::string m = SyslogMessage(e, hostname_);
    if (m.size() > 8192) m.resize(8192);  // one datagram each, bounded
    if (::send(fd, m.data(), m.size(), MSG_NOSIGNAL) < 0) {
      st = Status::Unavailable(std::string("send: ") + std::strerror(errno));
      break;
    }
  }
  ::close(fd);
  return st;
}

Status Forwarder::SendLoki(const std::vector<Entry>& batch) {
  std::string body = LokiPushBody(batch);
  std::string req = "POST " + d_.path + "/loki/api/v1/push HTTP/1.1\r\nHost: " + d_.host + ":" +
                    std::to_string(d_.port) +
                    "\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " +
                    std::to_string(body.size()) + "\r\n\r\n" + body;
  ASSIGN_OR_RETURN(int fd, Connect(d_.host, d_.port, SOCK_STREAM));
  Status st = SendAll(fd, req);
  std::string answer;
  char buf[1024];
  while (st.ok() && answer.find("\r\n") == std::string::npos && answer.size() < 4096) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    answer.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  RETURN_IF_ERROR(st);
  if (answer.rfind("HTTP/1.1 2", 0) != 0 && answer.rfind("HTTP/1.0 2", 0) != 0) {
    return Status::Unavailable("loki answered: " + answer.substr(0, answer.find("\r\n")));
  }
  return Status::Ok();
}

Status Forwarder::SendFile(const std::vector<Entry>& batch) {
  std::string bytes;
  for (const auto& e : batch) bytes += EntryJson(e).dump() + "\n";
  int fd = ::open(d_.path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0) return Status::Unavailable("cannot open " + d_.path + ": " + std::strerror(errno));
  Status st;
  std::size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + off, bytes.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      st = Status::Unavailable("writing " + d_.path + ": " + std::strerror(errno));
      break;
    }
    off += static_cast<std::size_t>(n);
  }
  ::close(fd);
  return st;
}

}  // namespace gravity::logs
