#include "static/server.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include <array>
#include <boost/asio.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <unordered_set>
#include <vector>

#include "common/http1.h"
#include "static/file_cache.h"
#include "static/http_util.h"

namespace gravity::static_server {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using SteadyTime = std::chrono::steady_clock::time_point;

namespace {

constexpr std::size_t kReadBuffer = 16 * 1024;  // also the request head limit
constexpr std::size_t kMaxPipelined = 32;       // responses batched into one write
constexpr std::size_t kSendfileChunk = 1 << 20;

const http1::Limits kLimits{kReadBuffer, 100};

}  // namespace

class Session;

class Server::Impl {
 public:
  explicit Impl(ServerOptions options)
      : options_(std::move(options)),
        ioc_(1),
        acceptor_(ioc_),
        signals_(ioc_),
        sweep_(ioc_),
        retry_accept_(ioc_) {}

  Status Init();
  void Run();
  void Stop() {
    asio::post(ioc_, [this] { BeginShutdown(); });
  }

  const ServerOptions& options() const { return options_; }
  FileCache& cache() { return *cache_; }
  const std::string& date() const { return date_; }
  // Precise (vDSO) time for connection deadlines; the sweep compares against it.
  SteadyTime now() const { return std::chrono::steady_clock::now(); }
  bool stopping() const { return stopping_; }
  void Register(Session* s) { sessions_.insert(s); }
  void Unregister(Session* s) { sessions_.erase(s); }

  ServerOptions options_;
  std::uint16_t port_ = 0;
  std::string root_;

 private:
  void Accept();
  void Sweep();
  void BeginShutdown();
  void UpdateClock() {
    now_ = std::chrono::steady_clock::now();
    std::time_t t = std::time(nullptr);
    if (t != date_time_) {
      date_time_ = t;
      date_ = FormatHttpDate(t);
    }
  }

  asio::io_context ioc_;
  tcp::acceptor acceptor_;
  asio::signal_set signals_;
  asio::steady_timer sweep_;
  asio::steady_timer retry_accept_;
  std::unique_ptr<FileCache> cache_;
  std::unordered_set<Session*> sessions_;
  std::string date_;
  std::time_t date_time_ = 0;
  SteadyTime now_;
  bool stopping_ = false;
  SteadyTime shutdown_deadline_;
};

// One client connection. Owns itself through shared_from_this while an operation is
// pending. Runs on the server thread only.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Server::Impl& server, tcp::socket socket) : server_(server), socket_(std::move(socket)) {
    server_.Register(this);
    last_activity_ = server_.now();
  }
  ~Session() {
    if (file_fd_ >= 0) ::close(file_fd_);
    server_.Unregister(this);
  }

  void Start() {
    boost::system::error_code ec;
    socket_.set_option(tcp::no_delay(true), ec);
    socket_.native_non_blocking(true, ec);
    DoRead();
  }

  // Called by the sweep: closes connections that are idle too long, slow to send a
  // request head, stuck writing, or idle while the server shuts down.
  void Check(SteadyTime now, bool force) {
    const auto& o = server_.options();
    bool partial = len_ > start_;
    bool expired =
        force || (writing_ && now - write_started_ > o.write_timeout) ||
        (!writing_ && partial && now - head_started_ > o.header_timeout) ||
        (!writing_ && !partial && (server_.stopping() || now - last_activity_ > o.idle_timeout));
    if (expired) Close();
  }

  void Close() {
    boost::system::error_code ec;
    socket_.close(ec);
  }

 private:
  void DoRead() {
    if (start_ == len_) {
      start_ = len_ = 0;
    } else if (start_ > 0) {
      std::memmove(buf_.data(), buf_.data() + start_, len_ - start_);
      len_ -= start_;
      start_ = 0;
    }
    if (len_ == buf_.size()) {  // a request head that does not fit
      head_only_ = false;
      AppendError(431, "request head too large", 1);
      Flush();
      return;
    }
    socket_.async_read_some(asio::buffer(buf_.data() + len_, buf_.size() - len_),
                            [self = shared_from_this()](const boost::system::error_code& ec,
                                                        std::size_t n) { self->OnRead(ec, n); });
  }

  void OnRead(const boost::system::error_code& ec, std::size_t n) {
    if (ec) return;  // closed by peer or by us; the session ends
    SteadyTime now = server_.now();
    if (len_ == start_) head_started_ = now;
    len_ += n;
    last_activity_ = now;
    Process();
  }

  // Answers every complete request in the buffer, then writes the answers in one go.
  void Process() {
    std::size_t answered = 0;
    while (!close_after_write_ && file_fd_ < 0 && answered < kMaxPipelined && len_ > start_) {
      std::string_view data(buf_.data() + start_, len_ - start_);
      head_.Clear();
      http1::ParseResult r = http1::ParseRequestHead(data, kLimits, &head_, &scanner_);
      if (r.status == http1::ParseStatus::kNeedMore) break;
      scanner_.Reset();
      if (r.status == http1::ParseStatus::kError) {
        head_only_ = false;
        AppendError(r.error_status, r.error_reason, 1);
        break;
      }
      Handle(head_);
      start_ += r.head_length;
      if (len_ > start_) head_started_ = last_activity_;
      ++answered;
    }
    if (!out_.empty()) {
      Flush();
    } else if (close_after_write_) {
      Shutdown();
    } else {
      DoRead();
    }
  }

  // ---- responses

  void StatusLine(int status, int version_minor) {
    out_ += version_minor == 0 ? "HTTP/1.0 " : "HTTP/1.1 ";
    out_ += std::to_string(status);
    out_ += ' ';
    out_ += http1::ReasonPhrase(status);
    out_ += "\r\nServer: gravity\r\nDate: ";
    out_ += server_.date();
    out_ += "\r\n";
  }

  void EndHead() {
    if (close_after_write_) {
      out_ += "Connection: close\r\n\r\n";
    } else if (keep_alive_10_) {
      out_ += "Connection: keep-alive\r\n\r\n";
    } else {
      out_ += "\r\n";
    }
    MarkOutput();
  }

  // Everything appended to out_ since the last piece becomes a piece of its own.
  void MarkOutput() {
    if (out_.size() > piece_mark_) {
      pieces_.push_back({piece_mark_, out_.size(), nullptr, 0, 0});
      piece_mark_ = out_.size();
    }
  }

  void AppendBody(std::shared_ptr<const std::string> body, std::size_t offset, std::size_t len) {
    if (len == 0) return;
    pieces_.push_back({0, 0, std::move(body), offset, len});
  }

  // A short text answer. Errors of the request head close the connection.
  void AppendError(int status, const char* reason, int version_minor,
                   const char* extra_headers = "") {
    if (status == 400 || status == 431 || status == 505 || status == 501 || status == 413) {
      close_after_write_ = true;
    }
    std::string body = std::to_string(status) + " " + http1::ReasonPhrase(status);
    if (reason && *reason) body += ": " + std::string(reason);
    body += "\n";
    StatusLine(status, version_minor);
    out_ += extra_headers;
    out_ += "Content-Type: text/plain; charset=utf-8\r\nContent-Length: ";
    out_ += std::to_string(body.size());
    out_ += "\r\n";
    EndHead();
    if (!head_only_) out_ += body;
    MarkOutput();
  }

  void Handle(const http1::RequestHead& req) {
    const int v = req.version_minor;
    http1::ConnectionInfo conn;
    http1::ParseConnection(req.headers, &conn);
    keep_alive_10_ = v == 0 && conn.keep_alive;
    if (!http1::KeepAlive(v, conn) || server_.stopping()) close_after_write_ = true;
    head_only_ = req.method == "HEAD";

    http1::Framing framing = http1::RequestFraming(req);
    if (!framing.ok()) {
      AppendError(framing.error_status, framing.error_reason, v);
      return;
    }
    if (framing.kind != http1::BodyKind::kNone &&
        !(framing.kind == http1::BodyKind::kContentLength && framing.length == 0)) {
      close_after_write_ = true;  // bodies are never read; the connection cannot continue
    }
    if (req.method != "GET" && req.method != "HEAD") {
      AppendError(405, "", v, "Allow: GET, HEAD\r\n");
      return;
    }
    TargetPath target = ParseTarget(req.target);
    if (target.error_status) {
      AppendError(target.error_status, target.error_reason, v);
      return;
    }

    std::string file = target.relative;
    if (target.trailing_slash) file += file.empty() ? "index.html" : "/index.html";
    FileCache::Lookup found = server_.cache().Get(file, std::chrono::steady_clock::now());
    if (found.kind == FileCache::Kind::kDirectory && !target.trailing_slash) {
      std::string location = "Location: " + std::string(target.raw_path) + "/";
      if (!target.query.empty()) location += "?" + std::string(target.query);
      location += "\r\n";
      AppendError(301, "", v, location.c_str());
      return;
    }
    if (found.kind == FileCache::Kind::kForbidden) {
      AppendError(403, "", v);
      return;
    }
    if (found.kind != FileCache::Kind::kFile) {
      AppendError(404, "", v);
      return;
    }
    ServeFile(req, *found.entry, found.entry, found.fd);
  }

  void ServeFile(const http1::RequestHead& req, const FileEntry& e,
                 std::shared_ptr<const FileEntry> keep, int fd) {
    const int v = req.version_minor;
    // Conditional GET/HEAD.
    bool not_modified = false;
    if (const http1::Header* inm = req.Find("If-None-Match")) {
      not_modified = IfNoneMatchMatches(inm->value, e.etag);
    } else if (const http1::Header* ims = req.Find("If-Modified-Since")) {
      auto t = ParseHttpDate(ims->value);
      not_modified = t && e.mtime_sec <= *t;
    }
    if (not_modified) {
      if (fd >= 0) ::close(fd);
      StatusLine(304, v);
      out_ += "Last-Modified: " + e.last_modified + "\r\nETag: " + e.etag + "\r\n";
      EndHead();
      return;
    }

    ByteRange range;
    if (const http1::Header* rh = req.Find("Range"); rh && req.method == "GET") {
      const http1::Header* if_range = req.Find("If-Range");
      if (!if_range || if_range->value == e.etag || if_range->value == e.last_modified) {
        range = ParseRange(rh->value, e.size);
      }
    }
    if (range.kind == ByteRange::Kind::kUnsatisfiable) {
      if (fd >= 0) ::close(fd);
      std::string extra = "Content-Range: bytes */" + std::to_string(e.size) + "\r\n";
      AppendError(416, "", v, extra.c_str());
      return;
    }

    std::uint64_t first = 0, length = e.size;
    if (range.kind == ByteRange::Kind::kSatisfiable) {
      first = range.first;
      length = range.last - range.first + 1;
      StatusLine(206, v);
      out_ += "Content-Type: " + e.content_type + "\r\nContent-Length: " + std::to_string(length) +
              "\r\nContent-Range: bytes " + std::to_string(range.first) + "-" +
              std::to_string(range.last) + "/" + std::to_string(e.size) +
              "\r\nLast-Modified: " + e.last_modified + "\r\nETag: " + e.etag +
              "\r\nAccept-Ranges: bytes\r\n";
    } else {
      StatusLine(200, v);
      out_ += e.headers_200;
    }
    EndHead();
    if (head_only_ || length == 0) {
      if (fd >= 0) ::close(fd);
      return;
    }
    if (e.content) {
      AppendBody(keep->content, first, length);
    } else {
      file_fd_ = fd;
      file_offset_ = static_cast<off_t>(first);
      file_remaining_ = length;
    }
  }

  // ---- writing

  void Flush() {
    MarkOutput();
    bufs_.clear();
    for (const auto& p : pieces_) {
      if (p.body) {
        bufs_.emplace_back(p.body->data() + p.body_offset, p.body_len);
      } else {
        bufs_.emplace_back(out_.data() + p.begin, p.end - p.begin);
      }
    }
    writing_ = true;
    write_started_ = server_.now();
    asio::async_write(socket_, bufs_,
                      [self = shared_from_this()](const boost::system::error_code& ec,
                                                  std::size_t) { self->OnWritten(ec); });
  }

  void OnWritten(const boost::system::error_code& ec) {
    writing_ = false;
    out_.clear();
    pieces_.clear();
    piece_mark_ = 0;
    if (ec) return;
    last_activity_ = server_.now();
    if (file_fd_ >= 0) {
      SendFile();
      return;
    }
    AfterResponse();
  }

  void AfterResponse() {
    if (close_after_write_) {
      Shutdown();
    } else {
      Process();
    }
  }

  void SendFile() {
    while (file_remaining_ > 0) {
      ssize_t n = ::sendfile(socket_.native_handle(), file_fd_, &file_offset_,
                             std::min<std::uint64_t>(file_remaining_, kSendfileChunk));
      if (n > 0) {
        file_remaining_ -= static_cast<std::uint64_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) {
        writing_ = true;
        write_started_ = server_.now();
        socket_.async_wait(tcp::socket::wait_write,
                           [self = shared_from_this()](const boost::system::error_code& ec) {
                             self->writing_ = false;
                             if (ec) return;
                             self->last_activity_ = self->server_.now();
                             self->SendFile();
                           });
        return;
      }
      // An error, or the file shrank: the promised length cannot be kept.
      ::close(file_fd_);
      file_fd_ = -1;
      Close();
      return;
    }
    ::close(file_fd_);
    file_fd_ = -1;
    AfterResponse();
  }

  void Shutdown() {
    boost::system::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_send, ec);
    socket_.close(ec);
  }

  struct Piece {
    std::size_t begin, end;                   // range of out_ when body is null
    std::shared_ptr<const std::string> body;  // else: a slice of this
    std::size_t body_offset, body_len;
  };

  Server::Impl& server_;
  tcp::socket socket_;
  std::array<char, kReadBuffer> buf_;
  std::size_t start_ = 0;  // first unconsumed byte
  std::size_t len_ = 0;    // bytes in buf_
  http1::RequestHead head_;
  http1::HeadScanner scanner_;

  std::string out_;
  std::size_t piece_mark_ = 0;
  std::vector<Piece> pieces_;
  std::vector<asio::const_buffer> bufs_;
  bool close_after_write_ = false;
  bool keep_alive_10_ = false;
  bool head_only_ = false;

  int file_fd_ = -1;
  off_t file_offset_ = 0;
  std::uint64_t file_remaining_ = 0;

  bool writing_ = false;
  SteadyTime last_activity_, head_started_, write_started_;
};

Status Server::Impl::Init() {
  auto cache = FileCache::Open(options_.root, options_.max_cached_file_bytes,
                               options_.max_cache_bytes, options_.revalidate_after);
  if (!cache.ok()) return cache.status();
  cache_ = std::move(cache).value();
  struct stat st;
  if (stat(cache_->root().c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Status::Error(options_.root + ": not a directory");
  }
  boost::system::error_code ec;
  auto address =
      asio::ip::make_address(options_.host == "localhost" ? "127.0.0.1" : options_.host, ec);
  if (ec) return Status::Error("invalid --host '" + options_.host + "': " + ec.message());
  tcp::endpoint endpoint(address, options_.port);
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Status::Error("cannot listen on " + endpoint.address().to_string() + ":" +
                         std::to_string(options_.port) + ": " + ec.message());
  }
  port_ = acceptor_.local_endpoint().port();
  root_ = cache_->root();
  return Status::Ok();
}

void Server::Impl::Run() {
  UpdateClock();
  if (options_.handle_signals) {
    signals_.add(SIGTERM);
    signals_.add(SIGINT);
    signals_.async_wait([this](const boost::system::error_code& ec, int) {
      if (!ec) BeginShutdown();
    });
  }
  Accept();
  Sweep();
  ioc_.run();
}

void Server::Impl::Accept() {
  acceptor_.async_accept([this](const boost::system::error_code& ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || stopping_) return;
    if (ec) {
      // Out of descriptors or a transient error: try again shortly.
      retry_accept_.expires_after(std::chrono::milliseconds(50));
      retry_accept_.async_wait([this](const boost::system::error_code& e) {
        if (!e && !stopping_) Accept();
      });
      return;
    }
    if (static_cast<int>(sessions_.size()) < options_.max_connections) {
      std::make_shared<Session>(*this, std::move(socket))->Start();
    }
    Accept();
  });
}

void Server::Impl::Sweep() {
  UpdateClock();
  bool force = stopping_ && now_ >= shutdown_deadline_;
  // Check() may close sockets but never destroys a session synchronously.
  for (Session* s : sessions_) s->Check(now_, force);
  if (stopping_ && sessions_.empty()) return;
  sweep_.expires_after(stopping_ ? std::chrono::milliseconds(50) : std::chrono::seconds(1));
  sweep_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec || stopping_) Sweep();
  });
}

void Server::Impl::BeginShutdown() {
  if (stopping_) return;
  stopping_ = true;
  shutdown_deadline_ = std::chrono::steady_clock::now() + options_.shutdown_grace;
  boost::system::error_code ec;
  acceptor_.close(ec);
  signals_.cancel(ec);
  retry_accept_.cancel();
  sweep_.cancel();  // the sweep handler runs at once and checks sessions
}

// ---- Server

Result<std::unique_ptr<Server>> Server::Create(ServerOptions options) {
  auto impl = std::make_unique<Impl>(std::move(options));
  RETURN_IF_ERROR(impl->Init());
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() = default;
std::uint16_t Server::port() const { return impl_->port_; }
const std::string& Server::root() const { return impl_->root_; }
void Server::Run() { impl_->Run(); }
void Server::Stop() { impl_->Stop(); }

}  // namespace gravity::static_server
