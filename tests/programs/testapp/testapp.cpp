// gravity-testapp: a real HTTP/1.1 keep-alive server written for Gravity's tests and
// benchmarks. It plays an application instance (or a proxy target) whose behaviour a test
// chooses: body, status, start delay, failing at start, never listening, crashing.
//
// Usage: gravity-testapp [--port N] [--host ADDR] [--name NAME] [--body TEXT] [--status N]
//          [--start-delay D] [--exit-at-start] [--never-listen] [--crash-after-requests N]
//          [--crash-after D] [--threads N] [--port-file PATH] [--log-requests]
//          [--ignore-sigterm] [--term-grace D] [--alloc-at-start MIB]
//          [--latency D] [--error-every N] [--fail-after D] [--metric-value NAME=VALUE]...
//
// Paths (any method):
//   /slow?ms=N                the normal response, after N ms
//   /stream?chunks=N&ms=M     a chunked body of N lines, one every M ms
//   /bytes?n=N                a body of N bytes ('x'), N <= 64 MiB
//   /status?code=N            an empty response with status N
//   /echo                     JSON: method, target, headers, body of the request
//   /info                     JSON: pid, cwd, argv, environment, instance name, port
//   /hostile?try=W&path=P&n=N an attempt to break out of the sandbox (hostile.h)
//   /stats                    JSON: requests answered, other requests in flight
//   /ws                       WebSocket echo (upgrade required)
//   /metrics                  Prometheus text: a gauge per --metric-value NAME=VALUE,
//                             labelled release="$GRAVITY_RELEASE" when that is set
//   anything else             --body with --status (default 200), after --latency; every
//                             --error-every'th such response, and all of them from
//                             --fail-after after listening, are 500 instead
// Every response carries `X-Instance: <--name or port>`.
//
// Threading: one io_context per --threads; the acceptor runs on the first and hands each
// connection to the next context round-robin. A session lives on one context only.

// clang-format off
#include <utility>  // first: Boost 1.74's awaitable.hpp uses std::exchange without it
// clang-format on

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/duration.h"
#include "hostile.h"

extern char** environ;

namespace gravity::testapp {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

constexpr int kCrashExitCode = 70;
constexpr std::size_t kMaxBytesBody = 64u << 20;
constexpr std::size_t kRequestBodyLimit = 64u << 20;
constexpr std::size_t kRequestHeaderLimit = 64u << 10;
constexpr auto kIdleTimeout = 120s;
constexpr auto kWriteTimeout = 60s;

struct Options {
  std::string host = "127.0.0.1";
  int port = -1;
  std::string name;
  std::string body;
  bool body_set = false;
  int status = 200;
  std::chrono::milliseconds start_delay{0};
  bool exit_at_start = false;
  bool never_listen = false;
  long crash_after_requests = -1;
  std::chrono::milliseconds crash_after{0};
  int threads = 1;
  std::string port_file;
  bool log_requests = false;
  bool ignore_sigterm = false;
  std::chrono::milliseconds term_grace{10000};
  long alloc_at_start_mib = 0;  // touched before listening (a memory limit test)
  std::chrono::milliseconds latency{0};     // added to each default response
  long error_every = 0;                     // every Nth default response is a 500
  std::chrono::milliseconds fail_after{0};  // default responses are 500 from then on
  std::vector<std::pair<std::string, std::string>> metric_values;  // gauges on /metrics
  std::vector<std::string> argv;
};

// Process-wide state shared by all sessions (atomics only).
struct Shared {
  Options options;
  std::string instance;  // X-Instance value; immutable once listening
  int port = 0;
  std::atomic<long> answered{0};
  std::atomic<long> in_flight{0};
  std::atomic<bool> stopping{false};
  std::atomic<long> default_answers{0};
  std::chrono::steady_clock::time_point listening_since;  // set once before serving
};

[[noreturn]] void Usage(const std::string& error) {
  std::fprintf(stderr,
               "gravity-testapp: %s\n"
               "usage: gravity-testapp [--port N] [--host ADDR] [--name NAME] [--body TEXT]\n"
               "  [--status N] [--start-delay D] [--exit-at-start] [--never-listen]\n"
               "  [--crash-after-requests N] [--crash-after D] [--threads N]\n"
               "  [--port-file PATH] [--log-requests] [--ignore-sigterm] [--term-grace D]\n"
               "  [--alloc-at-start MIB] [--latency D] [--error-every N] [--fail-after D]\n"
               "  [--metric-value NAME=VALUE]...\n",
               error.c_str());
  std::exit(2);
}

long ParseLong(const std::string& flag, const std::string& text, long min, long max) {
  long value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || value < min || value > max) {
    Usage(flag + ": expected an integer in [" + std::to_string(min) + ", " + std::to_string(max) +
          "], got '" + text + "'");
  }
  return value;
}

std::chrono::milliseconds ParseDur(const std::string& flag, const std::string& text) {
  auto d = gravity::ParseDuration(text);
  if (!d.ok()) Usage(flag + ": " + d.error());
  return *d;
}

Options ParseArgs(int argc, char** argv) {
  // A setuid copy of the program reports the euid it really got, then ends.
  if (argc == 2 && std::string(argv[1]) == "--print-euid") {
    std::printf("euid %d\n", static_cast<int>(::geteuid()));
    std::exit(0);
  }
  Options o;
  for (int i = 0; i < argc; ++i) o.argv.emplace_back(argv[i]);
  auto value = [&](int& i, const std::string& flag) -> std::string {
    if (i + 1 >= argc) Usage(flag + " needs a value");
    return argv[++i];
  };
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    // Accept --flag=value as well as --flag value.
    std::string inline_value;
    bool has_inline = false;
    if (auto eq = a.find('='); a.rfind("--", 0) == 0 && eq != std::string::npos) {
      inline_value = a.substr(eq + 1);
      a = a.substr(0, eq);
      has_inline = true;
    }
    auto v = [&]() { return has_inline ? inline_value : value(i, a); };
    if (a == "--port") {
      o.port = static_cast<int>(ParseLong(a, v(), 0, 65535));
    } else if (a == "--host") {
      o.host = v();
    } else if (a == "--name") {
      o.name = v();
    } else if (a == "--body") {
      o.body = v();
      o.body_set = true;
    } else if (a == "--status") {
      o.status = static_cast<int>(ParseLong(a, v(), 100, 999));
    } else if (a == "--start-delay") {
      o.start_delay = ParseDur(a, v());
    } else if (a == "--exit-at-start") {
      o.exit_at_start = true;
    } else if (a == "--never-listen") {
      o.never_listen = true;
    } else if (a == "--crash-after-requests") {
      o.crash_after_requests = ParseLong(a, v(), 0, 1L << 40);
    } else if (a == "--crash-after") {
      o.crash_after = ParseDur(a, v());
    } else if (a == "--threads") {
      o.threads = static_cast<int>(ParseLong(a, v(), 1, 64));
    } else if (a == "--port-file") {
      o.port_file = v();
    } else if (a == "--log-requests") {
      o.log_requests = true;
    } else if (a == "--ignore-sigterm") {
      o.ignore_sigterm = true;
    } else if (a == "--term-grace") {
      o.term_grace = ParseDur(a, v());
    } else if (a == "--alloc-at-start") {
      o.alloc_at_start_mib = ParseLong(a, v(), 1, 1L << 20);
    } else if (a == "--latency") {
      o.latency = ParseDur(a, v());
    } else if (a == "--error-every") {
      o.error_every = ParseLong(a, v(), 1, 1000000);
    } else if (a == "--fail-after") {
      o.fail_after = ParseDur(a, v());
    } else if (a == "--metric-value") {
      std::string nv = v();
      std::size_t eq = nv.find('=');
      if (eq == 0 || eq == std::string::npos || eq + 1 == nv.size()) {
        Usage("--metric-value expects NAME=VALUE, got '" + nv + "'");
      }
      o.metric_values.emplace_back(nv.substr(0, eq), nv.substr(eq + 1));
    } else if (a == "--help" || a == "-h") {
      Usage("help");
    } else {
      Usage("unknown argument '" + a + "'");
    }
  }
  if (o.port < 0) {
    const char* env_port = std::getenv("PORT");
    if (!env_port || !*env_port) Usage("no --port and no $PORT");
    o.port = static_cast<int>(ParseLong("$PORT", env_port, 0, 65535));
  }
  return o;
}

// Query parameter `key` of `target` as a number, or `fallback`.
long QueryLong(std::string_view target, std::string_view key, long fallback) {
  auto q = target.find('?');
  if (q == std::string_view::npos) return fallback;
  std::string_view query = target.substr(q + 1);
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    auto eq = pair.find('=');
    if (eq != std::string_view::npos && pair.substr(0, eq) == key) {
      long v = 0;
      auto val = pair.substr(eq + 1);
      auto [ptr, ec] = std::from_chars(val.data(), val.data() + val.size(), v);
      if (ec == std::errc() && ptr == val.data() + val.size()) return v;
      return fallback;
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return fallback;
}

std::string_view Sv(beast::string_view s) { return {s.data(), s.size()}; }

// Query parameter `key` of `target` as text (no percent-decoding: tests pass plain paths).
std::string QueryText(std::string_view target, std::string_view key) {
  auto q = target.find('?');
  if (q == std::string_view::npos) return "";
  std::string_view query = target.substr(q + 1);
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    auto eq = pair.find('=');
    if (eq != std::string_view::npos && pair.substr(0, eq) == key) {
      return std::string(pair.substr(eq + 1));
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return "";
}

std::string PathOf(std::string_view target) {
  return std::string(target.substr(0, target.find('?')));
}

nlohmann::json HeadersJson(const http::fields& fields) {
  nlohmann::json lower = nlohmann::json::object();
  nlohmann::json list = nlohmann::json::array();
  for (const auto& f : fields) {
    std::string name(f.name_string());
    std::string value(f.value());
    list.push_back({name, value});
    std::string key = name;
    for (auto& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower.contains(key)) {
      lower[key] = lower[key].get<std::string>() + ", " + value;
    } else {
      lower[key] = value;
    }
  }
  return {{"map", lower}, {"list", list}};
}

class Server {
 public:
  explicit Server(Shared& shared) : shared_(shared) {}

  // Serves one connection until it closes, errs, idles out, or the server stops.
  net::awaitable<void> Session(tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    beast::error_code ec;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.header_limit(kRequestHeaderLimit);
      parser.body_limit(kRequestBodyLimit);
      stream.expires_after(kIdleTimeout);
      co_await http::async_read(stream, buffer, parser,
                                net::redirect_error(net::use_awaitable, ec));
      if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
          ec == net::error::eof || ec == net::error::connection_reset ||
          ec == net::error::operation_aborted) {
        break;
      }
      if (ec) {
        // Malformed request: answer 400 and close.
        http::response<http::string_body> res{http::status::bad_request, 11};
        res.set("X-Instance", shared_.instance);
        res.set(http::field::content_type, "text/plain");
        res.body() = "bad request: " + ec.message() + "\n";
        res.keep_alive(false);
        res.prepare_payload();
        stream.expires_after(kWriteTimeout);
        co_await http::async_write(stream, res, net::redirect_error(net::use_awaitable, ec));
        break;
      }
      http::request<http::string_body> req = parser.release();
      if (shared_.options.crash_after_requests >= 0 &&
          shared_.answered.load() >= shared_.options.crash_after_requests) {
        std::fprintf(stderr, "gravity-testapp: crashing after %ld requests (as asked)\n",
                     shared_.answered.load());
        std::fflush(stderr);
        ::_exit(kCrashExitCode);
      }
      if (websocket::is_upgrade(req) && PathOf(Sv(req.target())) == "/ws") {
        co_await WebSocketEcho(std::move(stream), std::move(req));
        co_return;
      }
      shared_.in_flight.fetch_add(1);
      bool keep = co_await Answer(stream, req);
      shared_.in_flight.fetch_sub(1);
      shared_.answered.fetch_add(1);
      if (!keep || shared_.stopping.load()) break;
    }
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream.socket().close(ec);
  }

 private:
  // Writes the response to `req`; returns whether the connection stays open.
  net::awaitable<bool> Answer(beast::tcp_stream& stream, http::request<http::string_body>& req) {
    beast::error_code ec;
    const std::string path = PathOf(Sv(req.target()));
    int status = shared_.options.status;
    std::string body = shared_.options.body;
    std::string content_type = "text/plain; charset=utf-8";
    if (path == "/slow") {
      long ms = std::clamp(QueryLong(Sv(req.target()), "ms", 1000), 0L, 3600L * 1000);
      net::steady_timer timer(co_await net::this_coro::executor);
      timer.expires_after(std::chrono::milliseconds(ms));
      co_await timer.async_wait(net::redirect_error(net::use_awaitable, ec));
    } else if (path == "/stream") {
      co_return co_await Stream(stream, req);
    } else if (path == "/bytes") {
      long n =
          std::clamp(QueryLong(Sv(req.target()), "n", 1024), 0L, static_cast<long>(kMaxBytesBody));
      body.assign(static_cast<std::size_t>(n), 'x');
      status = 200;
    } else if (path == "/status") {
      status = static_cast<int>(std::clamp(QueryLong(Sv(req.target()), "code", 200), 100L, 999L));
      body.clear();
    } else if (path == "/echo") {
      nlohmann::json j = {{"method", std::string(req.method_string())},
                          {"target", std::string(req.target())},
                          {"version", req.version()},
                          {"headers", HeadersJson(req.base())},
                          {"body_length", req.body().size()},
                          {"body", req.body()},
                          {"instance", shared_.instance}};
      body = j.dump() + "\n";
      content_type = "application/json";
      status = 200;
    } else if (path == "/stats") {
      // in_flight counts the other requests being answered, not this one.
      body = nlohmann::json{{"answered", shared_.answered.load()},
                            {"in_flight", shared_.in_flight.load() - 1}}
                 .dump() +
             "\n";
      content_type = "application/json";
      status = 200;
    } else if (path == "/hostile") {
      std::string_view t = Sv(req.target());
      body = Hostile(QueryText(t, "try"), QueryText(t, "path"), QueryLong(t, "n", 0)) + "\n";
      status = 200;
    } else if (path == "/metrics") {
      body = Metrics();
      content_type = "text/plain; version=0.0.4";
      status = 200;
    } else if (path == "/info") {
      body = Info() + "\n";
      content_type = "application/json";
      status = 200;
    } else {
      const Options& o = shared_.options;
      if (o.latency.count() > 0) {
        net::steady_timer timer(co_await net::this_coro::executor);
        timer.expires_after(o.latency);
        co_await timer.async_wait(net::redirect_error(net::use_awaitable, ec));
      }
      const long n = shared_.default_answers.fetch_add(1) + 1;
      const bool failing =
          o.fail_after.count() > 0 &&
          std::chrono::steady_clock::now() - shared_.listening_since >= o.fail_after;
      if (failing || (o.error_every > 0 && n % o.error_every == 0)) status = 500;
    }
    http::response<http::string_body> res{static_cast<http::status>(status), req.version()};
    res.set(http::field::server, "gravity-testapp");
    res.set("X-Instance", shared_.instance);
    res.set(http::field::content_type, content_type);
    res.keep_alive(req.keep_alive() && !shared_.stopping.load());
    const bool no_body = req.method() == http::verb::head || status == 204 || status == 304 ||
                         (status >= 100 && status < 200);
    if (no_body) {
      if (req.method() == http::verb::head) res.content_length(body.size());
    } else {
      res.body() = std::move(body);
      res.prepare_payload();
    }
    stream.expires_after(kWriteTimeout);
    co_await http::async_write(stream, res, net::redirect_error(net::use_awaitable, ec));
    if (shared_.options.log_requests) {
      // The proxy's X-Request-Id, so `gravity logs --request ID` finds this line too.
      auto rid = req.find("x-request-id");
      std::string id = rid == req.end() ? "-" : std::string(rid->value());
      std::printf("%s %s %d request_id=%s\n", std::string(req.method_string()).c_str(),
                  std::string(req.target()).c_str(), status, id.c_str());
      std::fflush(stdout);
    }
    co_return !ec && res.keep_alive();
  }

  net::awaitable<bool> Stream(beast::tcp_stream& stream, http::request<http::string_body>& req) {
    beast::error_code ec;
    long chunks = std::clamp(QueryLong(Sv(req.target()), "chunks", 5), 0L, 1000000L);
    long ms = std::clamp(QueryLong(Sv(req.target()), "ms", 100), 0L, 3600L * 1000);
    http::response<http::empty_body> res{http::status::ok, req.version()};
    res.set(http::field::server, "gravity-testapp");
    res.set("X-Instance", shared_.instance);
    res.set(http::field::content_type, "text/plain; charset=utf-8");
    res.keep_alive(req.keep_alive() && !shared_.stopping.load());
    res.chunked(true);
    http::response_serializer<http::empty_body> sr{res};
    stream.expires_after(kWriteTimeout);
    co_await http::async_write_header(stream, sr, net::redirect_error(net::use_awaitable, ec));
    if (ec) co_return false;
    net::steady_timer timer(co_await net::this_coro::executor);
    for (long i = 0; i < chunks; ++i) {
      if (i > 0 && ms > 0) {
        timer.expires_after(std::chrono::milliseconds(ms));
        co_await timer.async_wait(net::redirect_error(net::use_awaitable, ec));
      }
      std::string line = "chunk " + std::to_string(i) + "\n";
      stream.expires_after(kWriteTimeout);
      co_await net::async_write(stream, http::make_chunk(net::buffer(line)),
                                net::redirect_error(net::use_awaitable, ec));
      if (ec) co_return false;
    }
    co_await net::async_write(stream, http::make_chunk_last(),
                              net::redirect_error(net::use_awaitable, ec));
    co_return !ec && res.keep_alive();
  }

  net::awaitable<void> WebSocketEcho(beast::tcp_stream stream,
                                     http::request<http::string_body> req) {
    beast::error_code ec;
    stream.expires_never();
    websocket::stream<beast::tcp_stream> ws(std::move(stream));
    ws.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    std::string instance = shared_.instance;
    ws.set_option(websocket::stream_base::decorator(
        [instance](websocket::response_type& res) { res.set("X-Instance", instance); }));
    co_await ws.async_accept(req, net::redirect_error(net::use_awaitable, ec));
    if (ec) co_return;
    beast::flat_buffer buffer;
    for (;;) {
      co_await ws.async_read(buffer, net::redirect_error(net::use_awaitable, ec));
      if (ec) co_return;
      ws.text(ws.got_text());
      co_await ws.async_write(buffer.data(), net::redirect_error(net::use_awaitable, ec));
      if (ec) co_return;
      buffer.consume(buffer.size());
    }
  }

  // The Prometheus text format: one gauge per --metric-value.
  std::string Metrics() const {
    const char* release = std::getenv("GRAVITY_RELEASE");
    std::string labels =
        release && *release ? std::string("{release=\"") + release + "\"}" : std::string();
    std::string out;
    for (const auto& [name, value] : shared_.options.metric_values) {
      out += "# TYPE " + name + " gauge\n" + name + labels + " " + value + "\n";
    }
    return out;
  }

  std::string Info() const {
    nlohmann::json env = nlohmann::json::object();
    for (char** e = environ; *e; ++e) {
      std::string entry(*e);
      auto eq = entry.find('=');
      if (eq != std::string::npos) env[entry.substr(0, eq)] = entry.substr(eq + 1);
    }
    std::error_code fs_ec;
    std::string cwd = std::filesystem::current_path(fs_ec).string();
    return nlohmann::json{{"pid", ::getpid()},
                          {"cwd", cwd},
                          {"argv", shared_.options.argv},
                          {"env", env},
                          {"instance", shared_.instance},
                          {"port", shared_.port}}
        .dump();
  }

  Shared& shared_;
};

int Main(int argc, char** argv) {
  Shared shared;
  shared.options = ParseArgs(argc, argv);
  const Options& o = shared.options;
  ::signal(SIGPIPE, SIG_IGN);
  if (o.exit_at_start) {
    std::fprintf(stderr, "gravity-testapp: exiting at start (as asked)\n");
    return 1;
  }
  if (o.alloc_at_start_mib > 0) {
    std::fprintf(stderr, "gravity-testapp: allocating %ld MiB before listening\n",
                 o.alloc_at_start_mib);
    Hostile("alloc", "", o.alloc_at_start_mib);
  }

  // Signals are blocked in every thread and handled by the signal_set on context 0.
  std::vector<std::unique_ptr<net::io_context>> contexts;
  for (int i = 0; i < o.threads; ++i) contexts.push_back(std::make_unique<net::io_context>(1));
  net::io_context& main_ctx = *contexts[0];
  net::signal_set signals(main_ctx, SIGTERM, SIGINT);
  if (o.ignore_sigterm) signals.remove(SIGTERM);
  if (o.ignore_sigterm) ::signal(SIGTERM, SIG_IGN);

  std::fprintf(stdout, "gravity-testapp starting (pid %d)\n", ::getpid());
  std::fflush(stdout);

  auto stop_all = [&contexts]() {
    for (auto& c : contexts) c->stop();
  };

  if (o.crash_after.count() > 0) {
    std::thread([d = o.crash_after]() {
      std::this_thread::sleep_for(d);
      std::fprintf(stderr, "gravity-testapp: crashing after %lld ms (as asked)\n",
                   static_cast<long long>(d.count()));
      std::fflush(stderr);
      ::_exit(kCrashExitCode);
    }).detach();
  }

  if (o.start_delay.count() > 0) std::this_thread::sleep_for(o.start_delay);

  std::optional<tcp::acceptor> acceptor;
  if (o.never_listen) {
    std::fprintf(stdout, "gravity-testapp: never listening (as asked)\n");
    std::fflush(stdout);
  } else {
    beast::error_code ec;
    auto address = net::ip::make_address(o.host, ec);
    if (ec) Usage("--host: '" + o.host + "' is not an IP address");
    acceptor.emplace(main_ctx);
    tcp::endpoint endpoint(address, static_cast<unsigned short>(o.port));
    acceptor->open(endpoint.protocol(), ec);
    if (!ec) acceptor->set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor->bind(endpoint, ec);
    if (!ec) acceptor->listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
      std::fprintf(stderr, "gravity-testapp: cannot listen on %s:%d: %s\n", o.host.c_str(), o.port,
                   ec.message().c_str());
      return 1;
    }
    shared.port = acceptor->local_endpoint().port();
    shared.listening_since = std::chrono::steady_clock::now();
    shared.instance = o.name.empty() ? std::to_string(shared.port) : o.name;
    if (!o.body_set) shared.options.body = "gravity-testapp " + shared.instance + "\n";
    if (!o.port_file.empty()) {
      std::string tmp = o.port_file + ".tmp";
      {
        std::ofstream f(tmp);
        f << shared.port << "\n";
      }
      std::rename(tmp.c_str(), o.port_file.c_str());
    }
    std::fprintf(stdout, "gravity-testapp listening on %s:%d as %s\n", o.host.c_str(), shared.port,
                 shared.instance.c_str());
    std::fflush(stdout);
  }

  Server server(shared);
  if (acceptor) {
    net::co_spawn(
        main_ctx,
        [&]() -> net::awaitable<void> {
          std::size_t next = 0;
          for (;;) {
            beast::error_code ec;
            net::io_context& target = *contexts[next++ % contexts.size()];
            tcp::socket socket = co_await acceptor->async_accept(
                target.get_executor(), net::redirect_error(net::use_awaitable, ec));
            if (ec == net::error::operation_aborted || shared.stopping.load()) co_return;
            if (ec) {
              // Out of descriptors and the like: back off briefly, keep serving.
              net::steady_timer t(main_ctx, 10ms);
              co_await t.async_wait(net::redirect_error(net::use_awaitable, ec));
              continue;
            }
            socket.set_option(tcp::no_delay(true), ec);
            net::co_spawn(target, server.Session(std::move(socket)), net::detached);
          }
        },
        net::detached);
  }

  signals.async_wait([&](const beast::error_code& ec, int sig) {
    if (ec) return;
    std::fprintf(stdout, "gravity-testapp: signal %d, stopping\n", sig);
    std::fflush(stdout);
    shared.stopping.store(true);
    beast::error_code ignored;
    if (acceptor) acceptor->close(ignored);
    // Let in-flight requests finish (bounded by --term-grace), then stop.
    std::thread([&shared, stop_all]() {
      auto deadline = std::chrono::steady_clock::now() + shared.options.term_grace;
      while (shared.in_flight.load() > 0 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(5ms);
      }
      stop_all();
    }).detach();
  });

  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < contexts.size(); ++i) {
    threads.emplace_back([&ctx = *contexts[i]]() {
      auto guard = net::make_work_guard(ctx);
      ctx.run();
    });
  }
  {
    auto guard = net::make_work_guard(main_ctx);
    main_ctx.run();
  }
  stop_all();
  for (auto& t : threads) t.join();
  std::fprintf(stdout, "gravity-testapp: stopped after %ld requests\n", shared.answered.load());
  std::fflush(stdout);
  // Sessions still parked on other contexts are abandoned; exit without unwinding them.
  std::fflush(nullptr);
  ::_exit(0);
}

}  // namespace
}  // namespace gravity::testapp

int main(int argc, char** argv) { return gravity::testapp::Main(argc, argv); }
