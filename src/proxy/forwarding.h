#pragma once

// The rules for what a request and a response look like on the other side of the proxy:
// which fields pass, which are replaced, what the proxy adds (X-Forwarded-*, X-Request-Id,
// Host), and how the connection headers are rewritten. Pure functions over parsed heads,
// writing into the caller's string; unit-tested in forwarding_test.cpp.
// Thread-safety: none needed (no shared state).

#include <cstdint>
#include <string>
#include <string_view>

#include "common/http1.h"

namespace gravity::proxy {

// The host a request is for: an absolute-form target's authority wins over Host (RFC 9112
// 3.2.2); empty when neither is given (HTTP/1.0).
std::string_view RequestHost(const http1::RequestHead& head);
// The path to route by: the origin-form target, "/" for "*" and for URLs without a path.
std::string_view RoutePath(const http1::RequestHead& head);

// The client's X-Request-Id when it is usable (1-128 bytes), else a new random one made of
// `r1` and `r2`, written into `out`.
void ChooseRequestId(const http1::RequestHead& head, std::uint64_t r1, std::uint64_t r2,
                     std::string* out);

struct UpstreamContext {
  std::string_view client_ip;       // appended to X-Forwarded-For
  std::string_view proto = "http";  // X-Forwarded-Proto
  std::string_view request_id;      // X-Request-Id
  std::string_view target_address;  // Host for an HTTP/1.0 request that had none
  bool upgrade = false;             // pass Connection: Upgrade + Upgrade on
};

struct UpstreamHead {
  bool expect_continue = false;  // the client sent Expect: 100-continue (HTTP/1.1 only)
};

// Appends the HTTP/1.1 request head sent to the target: origin-form target, Host, the
// client's end-to-end fields, the proxy's own fields, and the framing of `framing`.
UpstreamHead AppendUpstreamRequestHead(const http1::RequestHead& head,
                                       const http1::ConnectionInfo& connection,
                                       const http1::Framing& framing, const UpstreamContext& ctx,
                                       std::string* out);

struct DownstreamContext {
  bool keep_alive = true;      // the client connection stays open after this response
  int client_minor = 1;        // the client's HTTP version (1.0 needs keep-alive spelt out)
  bool switching = false;      // a 101 answer to an Upgrade request
  std::string_view upgrade;    // the request's Upgrade value (when the 101 lacks one)
  int set_cookie_bucket = -1;  // >= 0: set the canary cookie to this bucket
  std::string_view hsts;       // Strict-Transport-Security value unless the target set one
};

// Appends the response head sent to the client: the target's status and end-to-end fields,
// Transfer-Encoding when the body is passed on encoded, and the proxy's connection fields.
void AppendDownstreamResponseHead(const http1::ResponseHead& resp,
                                  const http1::ConnectionInfo& connection,
                                  const http1::Framing& framing, const DownstreamContext& ctx,
                                  std::string* out);

// A short text/plain error page for `status` with `detail`, closing unless `keep`; no body
// for HEAD requests.
void AppendErrorResponse(int status, std::string_view detail, bool keep, bool head_request,
                         std::string* out);

// A 200 text/plain answer the proxy gives itself (an ACME HTTP-01 key authorization).
void AppendTextResponse(std::string_view body, bool keep, bool head_request, std::string* out);

// 308 to `location` (the method and body are kept by the client, RFC 9110 15.4.9).
void AppendRedirectResponse(std::string_view location, bool keep, bool head_request,
                            std::string* out);

// The host part of a Host value: "example.com:8080" -> "example.com", "[::1]:80" -> "[::1]".
std::string_view HostWithoutPort(std::string_view host);

}  // namespace gravity::proxy
