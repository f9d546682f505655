// `gravity proxy run`: assembles the process. The control plane — one event loop on the
// main thread — owns the ServiceTable (services, health checks, deploys, drains, the state
// file) and serves the ControlApi on the control socket and metrics on their listener; the
// workers (worker.cpp, session.cpp) only ever see immutable RouteTable snapshots published
// from here. SIGTERM/SIGINT stop accepting and let in-flight requests finish.

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <optional>

#include "common/duration.h"
#include "common/fs.h"
#include "proxy/admin_http.h"
#include "proxy/control_api.h"
#include "proxy/internal.h"
#include "proxy/service_table.h"
#include "proxy/takeover.h"
#include "proxy/tls.h"
#include "proxy/tls_api.h"

namespace gravity::proxy {

namespace {

using asio::awaitable;
using asio::use_awaitable;
namespace local = asio::local;

class ControlPlane {
 public:
  ControlPlane(const ServerOptions& options, Clock& clock)
      : options_(options),
        clock_(clock),
        tls_(options.https_listen.empty() ? nullptr : std::make_unique<TlsStore>(clock)) {}
  int Run();

 private:
  // What Listen() opens and the later steps serve on, announce and close. A local of Run(),
  // so that its sockets are destroyed when Run() returns, before the event loop they use.
  struct Sockets {
    explicit Sockets(asio::io_context& io) : control(io) {}
    tcp::endpoint bound;                 // the HTTP listener
    std::optional<tcp::endpoint> https;  // with --https-listen
    local::stream_protocol::acceptor control;
    std::optional<tcp::acceptor> metrics;  // with --metrics
  };

  int CheckFlags() const;
  Status Listen(const AccessLogSink& sink, Sockets& sockets);
  void Serve(local::stream_protocol::acceptor& control);
  void AnnounceReady(const Sockets& sockets) const;
  void Stop(Sockets& sockets, const AccessLogSink& sink);

  Result<AccessLogSink> OpenAccessLog() const;
  Result<tcp::endpoint> StartWorkers(AccessLogSink sink);
  Result<tcp::endpoint> ListenHttps();
  Status ListenControl(local::stream_protocol::acceptor& control);
  Status ListenMetrics(std::optional<tcp::acceptor>& metrics);
  Status OfferTakeover(std::optional<tcp::acceptor>& metrics);
  void BeginShutdown();
  std::string SocketPath() const {
    return options_.control_socket.empty() ? options_.state_dir + "/proxy.sock"
                                           : options_.control_socket;
  }

  const ServerOptions options_;
  Clock& clock_;
  std::unique_ptr<TlsStore> tls_;  // with --https-listen; outlives the workers
  asio::io_context io_{1};
  std::vector<std::unique_ptr<Worker>> workers_;
  ServiceTable table_{io_, clock_, workers_, options_.state_dir + "/routes.json"};
  ControlApi api_{table_, clock_, tls_.get()};
  TakeoverServer takeover_{io_};
  InheritedSockets inherited_;  // with --takeover: what the previous process handed over
  unsigned long control_inode_ = 0;
  bool stopping_ = false;
};

// True when `fd` listens on `want` (port 0 in `want` matches any port).
bool ListensOn(int fd, const Address& want) {
  if (fd < 0) return false;
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return false;
  tcp::endpoint ep;
  std::memcpy(ep.data(), &ss, std::min<std::size_t>(len, ep.capacity()));
  ep.resize(len);
  error_code ec;
  auto addr = asio::ip::make_address(want.host, ec);
  return !ec && ep.address() == addr && (want.port == 0 || ep.port() == want.port);
}

// Adopts `fd` when it listens on the wanted address, else closes it (the address changed).
int TakeIfMatching(int& fd, const Address& want) {
  int out = ListensOn(fd, want) ? fd : -1;
  if (out < 0 && fd >= 0) ::close(fd);
  fd = -1;
  return out;
}

Result<AccessLogSink> ControlPlane::OpenAccessLog() const {
  AccessLogSink sink;
  if (options_.access_log == "-") {
    sink.fd = 1;
  } else if (!options_.access_log.empty() && options_.access_log != "off") {
    sink.fd = ::open(options_.access_log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (sink.fd < 0) {
      return Status::Error("cannot open access log " + options_.access_log + ": " +
                           std::strerror(errno));
    }
  }
  return sink;
}

// The workers, and the one listening socket the first of them accepts on for all.
Result<tcp::endpoint> ControlPlane::StartWorkers(AccessLogSink sink) {
  auto listen = ParseListenAddress(options_.listen);
  if (!listen.ok()) return Status::Error("--listen: " + listen.error());
  error_code ec;
  tcp::endpoint listen_ep(asio::ip::make_address(listen->host, ec), listen->port);
  PassiveFailureFn on_failure = [this](std::shared_ptr<Target> target, std::string reason) {
    asio::post(io_, [this, id = target->id, reason = std::move(reason)] {
      table_.PassiveFailure(id, reason);
    });
  };
  const int nworkers = options_.workers < 1 ? 1 : options_.workers;
  std::vector<Worker*> peers;
  for (int i = 0; i < nworkers; ++i) {
    workers_.push_back(std::make_unique<Worker>(i, options_, clock_, on_failure, sink));
    peers.push_back(workers_.back().get());
  }
  if (int fd = TakeIfMatching(inherited_.listen_fd, *listen); fd >= 0) {
    return workers_.front()->Adopt(fd, peers);
  }
  return workers_.front()->Listen(listen_ep, peers);
}

// The HTTPS listener on the first worker; every worker serves TLS from the one store.
Result<tcp::endpoint> ControlPlane::ListenHttps() {
  auto https = ParseListenAddress(options_.https_listen);
  if (!https.ok()) return Status::Error("--https-listen: " + https.error());
  error_code ec;
  tcp::endpoint ep(asio::ip::make_address(https->host, ec), https->port);
  auto bound = workers_.front()->ListenHttps(ep, TakeIfMatching(inherited_.https_fd, *https));
  if (!bound.ok()) return bound;
  tls_->SetStateDir(options_.state_dir + "/tls");
  tls_->Restore();
  for (auto& w : workers_) w->UseTls(tls_.get(), bound->port());
  return bound;
}

// The control socket, 0600: never stolen from a live proxy (unless taking over from it);
// put in place by a rename, so that it never is missing for a client.
Status ControlPlane::ListenControl(local::stream_protocol::acceptor& control) {
  const std::string path = SocketPath();
  if (!options_.takeover) {
    error_code ec;
    local::stream_protocol::socket probe(control.get_executor());
    probe.connect(local::stream_protocol::endpoint(path), ec);
    if (!ec) return Status::Error("another proxy is already serving the control socket " + path);
  }
  auto inode = BindReplacing(control, path, 64);
  if (!inode.ok()) return Status::Error("control socket: " + inode.error());
  control_inode_ = *inode;
  return Status::Ok();
}

// Lets a later process take this one's sockets over.
Status ControlPlane::OfferTakeover(std::optional<tcp::acceptor>& metrics) {
  InheritedSockets mine;
  mine.listen_fd = workers_.front()->listen_fd();
  mine.https_fd = workers_.front()->https_fd();
  mine.metrics_fd = metrics ? metrics->native_handle() : -1;
  return takeover_.Start(TakeoverPath(SocketPath()), mine, [this] { BeginShutdown(); });
}

Status ControlPlane::ListenMetrics(std::optional<tcp::acceptor>& metrics) {
  if (options_.metrics_listen.empty()) return Status::Ok();
  auto m = ParseListenAddress(options_.metrics_listen);
  if (!m.ok()) return Status::Error("--metrics: " + m.error());
  error_code ec;
  metrics.emplace(io_);
  tcp::endpoint mep(asio::ip::make_address(m->host, ec), m->port);
  if (int fd = TakeIfMatching(inherited_.metrics_fd, *m); fd >= 0) {
    metrics->assign(mep.protocol(), fd, ec);
  } else {
    metrics->open(mep.protocol(), ec);
    if (!ec) metrics->set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) metrics->bind(mep, ec);
    if (!ec) metrics->listen(64, ec);
  }
  if (ec) {
    return Status::Error("cannot listen for metrics on " + options_.metrics_listen + ": " +
                         ec.message());
  }
  ServeAdminHttp(*metrics, [this](std::string, std::string target,
                                  std::string) -> awaitable<ApiResponse> {
    if (target.rfind("/metrics", 0) != 0) co_return ApiResponse{404, "see /metrics\n", "text/plain"};
    std::string text = table_.RenderMetrics();
    if (tls_) {
      const auto now = std::chrono::duration_cast<std::chrono::seconds>(
          clock_.WallNow().time_since_epoch());
      text += RenderTlsMetrics(*tls_, now.count());
    }
    co_return ApiResponse{200, std::move(text), "text/plain; version=0.0.4"};
  });
  return Status::Ok();
}

void ControlPlane::BeginShutdown() {
  if (stopping_) return;
  stopping_ = true;
  table_.Stop();
  takeover_.Close();
  spdlog::info("proxy: shutting down: no new connections; finishing in-flight requests");
  for (auto& w : workers_) w->Shutdown();
  asio::co_spawn(
      io_,
      [this]() -> awaitable<void> {
        const auto deadline = clock_.Now() + options_.limits.shutdown_timeout;
        asio::steady_timer timer(io_);
        error_code ec;
        for (;;) {
          std::int64_t active = 0;
          for (auto& w : workers_) active += w->active_connections();
          if (active == 0) break;
          if (clock_.Now() >= deadline) {
            spdlog::warn("proxy: {} connection(s) still open after {}; closing", active,
                         FormatDuration(options_.limits.shutdown_timeout));
            break;
          }
          timer.expires_after(std::chrono::milliseconds(20));
          co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));
        }
        io_.stop();
      },
      asio::detached);
}

// Bad flags are exit code 2, before anything starts; 0 when all are good.
int ControlPlane::CheckFlags() const {
  if (auto l = ParseListenAddress(options_.listen); !l.ok()) {
    spdlog::error("proxy: --listen: {}", l.error());
    return 2;
  }
  if (auto m = ParseListenAddress(options_.metrics_listen);
      !options_.metrics_listen.empty() && !m.ok()) {
    spdlog::error("proxy: --metrics: {}", m.error());
    return 2;
  }
  if (auto h = ParseListenAddress(options_.https_listen);
      !options_.https_listen.empty() && !h.ok()) {
    spdlog::error("proxy: --https-listen: {}", h.error());
    return 2;
  }
  return 0;
}

// Every socket: the ones a previous process hands over (with --takeover), the workers'
// listeners, metrics, the takeover offer and the control socket, in that order.
Status ControlPlane::Listen(const AccessLogSink& sink, Sockets& sockets) {
  if (options_.takeover) {
    auto got = ReceiveSockets(TakeoverPath(SocketPath()), std::chrono::seconds(10));
    if (!got.ok()) return Status::Error("--takeover: " + got.error());
    inherited_ = *got;
  }
  // The listener first: a proxy started on an address in use fails before it touches the
  // control socket or the state.
  auto bound = StartWorkers(sink);
  if (!bound.ok()) return bound.status();
  sockets.bound = *bound;
  if (!tls_ && inherited_.https_fd >= 0) {
    // The previous process had an HTTPS listener and this one has none: close it, or it
    // would keep completing handshakes into a backlog nobody accepts from.
    ::close(inherited_.https_fd);
    inherited_.https_fd = -1;
  }
  if (tls_) {
    auto h = ListenHttps();
    if (!h.ok()) return h.status();
    sockets.https = *h;
  }
  RETURN_IF_ERROR(ListenMetrics(sockets.metrics));
  RETURN_IF_ERROR(OfferTakeover(sockets.metrics));
  return ListenControl(sockets.control);
}

// The state restored, the workers accepting, the ControlApi on the control socket; then
// the previous process (with --takeover) is told it may stop accepting.
void ControlPlane::Serve(local::stream_protocol::acceptor& control) {
  table_.Restore();
  for (auto& w : workers_) w->Start();
  ServeAdminHttp(control, [this](std::string method, std::string target, std::string body) {
    return api_.Handle(std::move(method), std::move(target), std::move(body));
  });
  if (inherited_.channel_fd >= 0) {
    // Serving on every socket now: the previous process may stop accepting.
    if (Status r = SignalReady(inherited_.channel_fd); !r.ok()) spdlog::warn("proxy: {}", r.message());
    inherited_.channel_fd = -1;
    spdlog::info("proxy: took over from the previous process");
  }
}

// The log lines saying where the proxy listens, and the ready files.
void ControlPlane::AnnounceReady(const Sockets& sockets) const {
  const tcp::endpoint& bound = sockets.bound;
  std::string where = bound.address().to_string() + ":" + std::to_string(bound.port());
  spdlog::info("proxy: listening on {} with {} worker(s); control socket {}", where,
               workers_.size(), SocketPath());
  if (const auto& https = sockets.https) {
    std::string hw = https->address().to_string() + ":" + std::to_string(https->port());
    spdlog::info("proxy: HTTPS on {} ({} certificate(s))", hw, tls_->List().size());
    if (!options_.https_ready_file.empty()) {
      Status w = WriteFileAtomic(options_.https_ready_file, hw + "\n");
      if (!w.ok()) spdlog::error("proxy: {}", w.message());
    }
  }
  if (!options_.ready_file.empty()) {
    Status w = WriteFileAtomic(options_.ready_file, where + "\n");
    if (!w.ok()) spdlog::error("proxy: {}", w.message());
  }
}

// After the event loop: the workers joined, the control socket closed and removed (when
// it still is this process's), the access log closed.
void ControlPlane::Stop(Sockets& sockets, const AccessLogSink& sink) {
  for (auto& w : workers_) w->StopAndJoin();
  workers_.clear();
  error_code ec;
  sockets.control.close(ec);
  takeover_.Close();
  UnlinkIfOurs(SocketPath(), control_inode_);
  if (sink.fd > 2) ::close(sink.fd);
  spdlog::info("proxy: stopped");
}

int ControlPlane::Run() {
  std::signal(SIGPIPE, SIG_IGN);
  if (Status st = MakeDirs(options_.state_dir, 0700); !st.ok()) {
    spdlog::error("proxy: {}", st.message());
    return 1;
  }
  if (int code = CheckFlags(); code != 0) return code;
  auto sink = OpenAccessLog();
  if (!sink.ok()) {
    spdlog::error("proxy: {}", sink.error());
    return 1;
  }
  Sockets sockets(io_);
  if (Status st = Listen(*sink, sockets); !st.ok()) {
    spdlog::error("proxy: {}", st.message());
    return 1;
  }
  Serve(sockets.control);
  asio::signal_set signals(io_, SIGTERM, SIGINT);
  signals.async_wait([this](error_code ec, int) {
    if (!ec) BeginShutdown();
  });
  AnnounceReady(sockets);

  io_.run();

  Stop(sockets, *sink);
  return 0;
}

}  // namespace

int RunServer(const ServerOptions& options, Clock& clock) {
  ControlPlane cp(options, clock);
  return cp.Run();
}

}  // namespace gravity::proxy
