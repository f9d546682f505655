#include "proxy/admin_http.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "common/http1.h"

namespace gravity::proxy {

namespace {

using asio::awaitable;
using asio::use_awaitable;

constexpr std::size_t kMaxBody = 1u << 20;

ApiResponse Error(int status, const std::string& message) {
  return {status, nlohmann::json{{"ok", false}, {"error", message}}.dump(
                      -1, ' ', false, nlohmann::json::error_handler_t::replace) +
                      "\n"};
}

template <typename Socket>
awaitable<void> ServeConnection(Socket sock, AdminHandler handler) {
  std::string data;
  char chunk[8192];
  error_code ec;
  auto tok = asio::redirect_error(use_awaitable, ec);
  http1::Limits limits;
  limits.max_head_bytes = 64 * 1024;
  for (;;) {
    http1::RequestHead head;
    http1::ParseResult pr;
    for (;;) {
      pr = http1::ParseRequestHead(data, limits, &head);
      if (pr.status != http1::ParseStatus::kNeedMore) break;
      std::size_t n = co_await sock.async_read_some(asio::buffer(chunk), tok);
      if (ec) co_return;
      data.append(chunk, n);
    }
    ApiResponse resp;
    bool keep = false;
    std::string method;
    if (pr.status == http1::ParseStatus::kError) {
      resp = Error(pr.error_status, pr.error_reason);
    } else {
      http1::Framing f = http1::RequestFraming(head);
      http1::ConnectionInfo ci;
      http1::ParseConnection(head.headers, &ci);
      keep = http1::KeepAlive(head.version_minor, ci) && f.ok() &&
             f.kind != http1::BodyKind::kChunked && f.length <= kMaxBody;
      method.assign(head.method);
      std::string target(head.target);
      if (!f.ok()) {
        resp = Error(f.error_status, f.error_reason);
      } else if (f.kind == http1::BodyKind::kChunked) {
        resp = Error(411, "send the body with Content-Length");
      } else if (f.length > kMaxBody) {
        resp = Error(413, "request body larger than 1 MiB");
      } else {
        const std::size_t need = pr.head_length + f.length;
        while (data.size() < need) {
          std::size_t n = co_await sock.async_read_some(asio::buffer(chunk), tok);
          if (ec) co_return;
          data.append(chunk, n);
        }
        std::string body = data.substr(pr.head_length, f.length);
        data.erase(0, need);
        resp = co_await handler(method, std::move(target), std::move(body));
      }
    }
    std::string out =
        fmt::format("HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{}\r\n",
                    resp.status, http1::ReasonPhrase(resp.status), resp.content_type,
                    resp.body.size(), keep ? "" : "Connection: close\r\n");
    if (method != "HEAD") out += resp.body;
    co_await asio::async_write(sock, asio::buffer(out), tok);
    if (ec || !keep) co_return;
  }
}

template <typename Acceptor>
awaitable<void> AcceptLoop(Acceptor& acceptor, AdminHandler handler) {
  error_code ec;
  for (;;) {
    typename Acceptor::protocol_type::socket sock(acceptor.get_executor());
    co_await acceptor.async_accept(sock, asio::redirect_error(use_awaitable, ec));
    if (ec) {
      if (!acceptor.is_open() || ec == asio::error::operation_aborted) co_return;
      continue;
    }
    asio::co_spawn(acceptor.get_executor(), ServeConnection(std::move(sock), handler),
                   asio::detached);
  }
}

}  // namespace

void ServeAdminHttp(tcp::acceptor& acceptor, AdminHandler handler) {
  asio::co_spawn(acceptor.get_executor(), AcceptLoop(acceptor, std::move(handler)),
                 asio::detached);
}

void ServeAdminHttp(asio::local::stream_protocol::acceptor& acceptor, AdminHandler handler) {
  asio::co_spawn(acceptor.get_executor(), AcceptLoop(acceptor, std::move(handler)),
                 asio::detached);
}

}  // namespace gravity::proxy
