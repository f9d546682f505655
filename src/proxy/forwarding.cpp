#include "proxy/forwarding.h"

#include <fmt/format.h>

#include "proxy/canary_split.h"

namespace gravity::proxy {

namespace {

using http1::EqualsIgnoreCase;

void AppendField(std::string* out, std::string_view name, std::string_view value) {
  out->append(name).append(": ").append(value).append("\r\n");
}

// Fields the proxy writes itself, whatever the client sent.
// Also the verify step's X-Gravity-Candidate: it chose the pool here, and its token is not
// the app's to see.
bool ReplacedByProxy(std::string_view name) {
  return EqualsIgnoreCase(name, "content-length") || EqualsIgnoreCase(name, "x-forwarded-proto") ||
         EqualsIgnoreCase(name, "x-forwarded-host") || EqualsIgnoreCase(name, "x-request-id") ||
         EqualsIgnoreCase(name, "x-gravity-candidate");
}

// The target in origin-form: "*" stays; "http://h" and "http://h?q" get their "/".
void AppendOriginTarget(const http1::RequestHead& head, std::string* out) {
  std::string_view path = head.origin;
  if (head.form != http1::TargetForm::kAsterisk && (path.empty() || path.front() != '/')) {
    out->push_back('/');
  }
  out->append(path);
}

}  // namespace

std::string_view RequestHost(const http1::RequestHead& head) {
  if (head.form == http1::TargetForm::kAbsolute) return head.authority;
  const http1::Header* h = head.Find("host");
  return h ? h->value : std::string_view();
}

std::string_view RoutePath(const http1::RequestHead& head) {
  std::string_view p = head.origin;
  return p.empty() || p.front() != '/' ? std::string_view("/") : p;
}

void ChooseRequestId(const http1::RequestHead& head, std::uint64_t r1, std::uint64_t r2,
                     std::string* out) {
  out->clear();
  const http1::Header* rid = head.Find("x-request-id");
  if (rid && !rid->value.empty() && rid->value.size() <= 128) {
    out->assign(rid->value);
  } else {
    fmt::format_to(std::back_inserter(*out), "{:016x}{:016x}", r1, r2);
  }
}

UpstreamHead AppendUpstreamRequestHead(const http1::RequestHead& head,
                                       const http1::ConnectionInfo& connection,
                                       const http1::Framing& framing, const UpstreamContext& ctx,
                                       std::string* out) {
  UpstreamHead result;
  out->append(head.method).append(" ");
  AppendOriginTarget(head, out);
  out->append(" HTTP/1.1\r\n");
  const bool absolute = head.form == http1::TargetForm::kAbsolute;
  const http1::Header* host = head.Find("host");
  // Upstream is HTTP/1.1, which needs a Host: the URL's authority, or for an HTTP/1.0
  // request without one, the target's address.
  if (absolute || !host) AppendField(out, "Host", absolute ? head.authority : ctx.target_address);
  std::string_view prior_xff;
  for (const auto& h : head.headers) {
    if (http1::IsHopByHop(h.name, connection)) continue;
    if ((absolute && &h == host) || ReplacedByProxy(h.name)) continue;
    if (EqualsIgnoreCase(h.name, "x-forwarded-for")) {
      prior_xff = h.value;  // keeps the last one; the chain is extended below
      continue;
    }
    if (EqualsIgnoreCase(h.name, "expect")) {  // the proxy answers 100-continue itself
      result.expect_continue =
          head.version_minor >= 1 && EqualsIgnoreCase(h.value, "100-continue");
      continue;
    }
    AppendField(out, h.name, h.value);
  }
  out->append("X-Forwarded-For: ");
  if (!prior_xff.empty()) out->append(prior_xff).append(", ");
  out->append(ctx.client_ip).append("\r\n");
  AppendField(out, "X-Forwarded-Proto", ctx.proto);
  std::string_view req_host = RequestHost(head);
  if (!req_host.empty()) AppendField(out, "X-Forwarded-Host", req_host);
  AppendField(out, "X-Request-Id", ctx.request_id);
  if (framing.kind == http1::BodyKind::kContentLength) {
    fmt::format_to(std::back_inserter(*out), "Content-Length: {}\r\n", framing.length);
  } else if (framing.kind == http1::BodyKind::kChunked) {
    out->append("Transfer-Encoding: chunked\r\n");
  }
  if (ctx.upgrade) {
    const http1::Header* u = head.Find("upgrade");
    out->append("Connection: Upgrade\r\n");
    AppendField(out, "Upgrade", u ? u->value : std::string_view());
  }
  out->append("\r\n");
  return result;
}

void AppendDownstreamResponseHead(const http1::ResponseHead& resp,
                                  const http1::ConnectionInfo& connection,
                                  const http1::Framing& framing, const DownstreamContext& ctx,
                                  std::string* out) {
  fmt::format_to(std::back_inserter(*out), "HTTP/1.1 {} ", resp.status);
  out->append(resp.reason.empty() ? std::string_view(http1::ReasonPhrase(resp.status))
                                  : resp.reason);
  out->append("\r\n");
  for (const auto& h : resp.headers) {
    if (!http1::IsHopByHop(h.name, connection)) AppendField(out, h.name, h.value);
  }
  // The codings are passed on as received: chunked is followed by the proxy; any other
  // last coding means the body ends at close (RFC 9112 6.3).
  if (framing.kind == http1::BodyKind::kChunked ||
      (framing.kind == http1::BodyKind::kUntilClose && resp.Find("transfer-encoding"))) {
    out->append("Transfer-Encoding: ");
    bool first = true;
    for (const auto& h : resp.headers) {
      if (!EqualsIgnoreCase(h.name, "transfer-encoding")) continue;
      if (!first) out->append(", ");
      out->append(h.value);
      first = false;
    }
    out->append("\r\n");
  }
  if (ctx.switching) {
    const http1::Header* u = resp.Find("upgrade");
    out->append("Connection: Upgrade\r\n");
    AppendField(out, "Upgrade", u ? u->value : ctx.upgrade);
  } else if (!ctx.keep_alive) {
    out->append("Connection: close\r\n");
  } else if (ctx.client_minor == 0) {
    out->append("Connection: keep-alive\r\n");
  }
  if (!ctx.hsts.empty() && !resp.Find("strict-transport-security")) {
    AppendField(out, "Strict-Transport-Security", ctx.hsts);
  }
  if (ctx.set_cookie_bucket >= 0) {
    AppendField(out, "Set-Cookie", CanaryCookie(ctx.set_cookie_bucket));
  }
  out->append("\r\n");
}

void AppendErrorResponse(int status, std::string_view detail, bool keep, bool head_request,
                         std::string* out) {
  const char* reason = http1::ReasonPhrase(status);
  std::string body = fmt::format("{} {}\n{}\n", status, reason, detail);
  fmt::format_to(std::back_inserter(*out),
                 "HTTP/1.1 {} {}\r\nContent-Type: text/plain; charset=utf-8\r\n"
                 "Content-Length: {}\r\n{}\r\n",
                 status, reason, body.size(), keep ? "" : "Connection: close\r\n");
  if (!head_request) out->append(body);
}

void AppendTextResponse(std::string_view body, bool keep, bool head_request, std::string* out) {
  fmt::format_to(std::back_inserter(*out),
                 "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{}\r\n",
                 body.size(), keep ? "" : "Connection: close\r\n");
  if (!head_request) out->append(body);
}

void AppendRedirectResponse(std::string_view location, bool keep, bool head_request,
                            std::string* out) {
  std::string body = fmt::format("308 Permanent Redirect\n{}\n", location);
  fmt::format_to(std::back_inserter(*out),
                 "HTTP/1.1 308 Permanent Redirect\r\nLocation: {}\r\n"
                 "Content-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n{}\r\n",
                 location, body.size(), keep ? "" : "Connection: close\r\n");
  if (!head_request) out->append(body);
}

std::string_view HostWithoutPort(std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    std::size_t end = host.find(']');
    return end == std::string_view::npos ? host : host.substr(0, end + 1);
  }
  std::size_t colon = host.find(':');
  return colon == std::string_view::npos ? host : host.substr(0, colon);
}

}  // namespace gravity::proxy
