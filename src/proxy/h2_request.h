#pragma once

// What an HTTP/2 stream's request and response look like on the HTTP/1.1 side of the
// proxy. A request's fields are collected as they are decoded, checked (RFC 9113 8.2.2
// connection-specific fields, 8.3.1 pseudo-headers), and turned into an http1::RequestHead
// so that routing, the canary split and forwarding.h's rules apply unchanged; a target's
// response head becomes HTTP/2 fields (lowercase names, no hop-by-hop fields). Pure
// functions, unit-tested in h2_request_test.cpp.
// Thread-safety: none needed (values owned by one stream).

#include <string>
#include <string_view>
#include <vector>

#include "common/http1.h"

namespace gravity::proxy {

struct H2Field {
  std::string name;
  std::string value;
};

// One stream's request. `head` points into this object: build it with FinishH2Request
// once every field is in, and do not copy or move the object after that.
struct H2Request {
  std::string method;
  std::string scheme;
  std::string authority;
  std::string path;
  std::vector<H2Field> fields;  // regular fields as received (cookies joined by Finish)
  std::size_t field_bytes = 0;  // name + value + 32 per field (RFC 9113 6.5.2's measure)
  bool regular_seen = false;    // pseudo-headers must come first
  http1::RequestHead head;
};

// Adds one decoded field. Returns why the request is malformed (the stream is reset), or
// nullptr.
const char* AddH2Field(H2Request* r, std::string_view name, std::string_view value);

// After the last field: checks the pseudo-headers and builds r->head (Host from
// :authority). Returns why the request is malformed, or nullptr. CONNECT passes: the
// caller answers it.
const char* FinishH2Request(H2Request* r);

// The fields of the response to send: `resp`'s end-to-end fields with lowercase names
// (hop-by-hop ones, and those `connection` names, dropped), and the canary cookie when
// `set_cookie_bucket` >= 0, and Strict-Transport-Security = `hsts` when it is set and the
// target sent none. Excludes :status.
std::vector<H2Field> H2ResponseFields(const http1::ResponseHead& resp,
                                      const http1::ConnectionInfo& connection,
                                      int set_cookie_bucket, std::string_view hsts = {});

}  // namespace gravity::proxy
