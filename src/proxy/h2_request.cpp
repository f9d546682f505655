#include "proxy/h2_request.h"

#include "proxy/canary_split.h"

namespace gravity::proxy {

namespace {

// RFC 9113 8.2.2: fields that only mean something on an HTTP/1.1 connection.
bool ConnectionSpecific(std::string_view name) {
  return name == "connection" || name == "keep-alive" || name == "proxy-connection" ||
         name == "transfer-encoding" || name == "upgrade";
}

bool HasUppercase(std::string_view s) {
  for (char c : s) {
    if (c >= 'A' && c <= 'Z') return true;
  }
  return false;
}

std::string Lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

const char* AddPseudo(H2Request* r, std::string_view name, std::string_view value) {
  if (r->regular_seen) return "pseudo-header after a regular field";
  std::string* slot = name == ":method"      ? &r->method
                      : name == ":scheme"    ? &r->scheme
                      : name == ":authority" ? &r->authority
                      : name == ":path"      ? &r->path
                                             : nullptr;
  if (!slot) return "unknown pseudo-header";
  if (!slot->empty()) return "repeated pseudo-header";
  if (value.empty()) return "empty pseudo-header";
  slot->assign(value);
  return nullptr;
}

// Cookies may arrive split into several fields (RFC 9113 8.2.3); HTTP/1.1 wants one.
void JoinCookies(std::vector<H2Field>* fields) {
  std::vector<H2Field> out;
  out.reserve(fields->size());
  int cookie = -1;
  for (auto& f : *fields) {
    if (f.name != "cookie") {
      out.push_back(std::move(f));
    } else if (cookie < 0) {
      cookie = static_cast<int>(out.size());
      out.push_back(std::move(f));
    } else {
      out[cookie].value.append("; ").append(f.value);
    }
  }
  *fields = std::move(out);
}

}  // namespace

const char* AddH2Field(H2Request* r, std::string_view name, std::string_view value) {
  r->field_bytes += name.size() + value.size() + 32;
  if (!name.empty() && name.front() == ':') return AddPseudo(r, name, value);
  r->regular_seen = true;
  if (name.empty() || HasUppercase(name)) return "field name not lowercase";
  if (ConnectionSpecific(name)) return "connection-specific field";
  if (name == "te" && value != "trailers") return "te other than trailers";
  if (name == "te") return nullptr;  // hop-by-hop: not passed on
  r->fields.push_back({std::string(name), std::string(value)});
  return nullptr;
}

const char* FinishH2Request(H2Request* r) {
  if (r->method.empty()) return "missing :method";
  if (r->method == "CONNECT") return nullptr;
  if (r->scheme.empty() || r->path.empty()) return "missing :scheme or :path";
  if (r->path.front() != '/' && !(r->path == "*" && r->method == "OPTIONS")) {
    return "bad :path";
  }
  JoinCookies(&r->fields);
  http1::RequestHead& h = r->head;
  h = http1::RequestHead{};
  h.method = r->method;
  h.target = r->path;
  h.form = r->path == "*" ? http1::TargetForm::kAsterisk : http1::TargetForm::kOrigin;
  h.origin = r->path;
  h.version_minor = 1;
  // :authority replaces Host (RFC 9113 8.3.1); the Host field counts when it is absent.
  bool host_added = false;
  if (!r->authority.empty()) {
    if (!http1::IsValidHost(r->authority)) return "bad :authority";
    h.headers.push_back({"Host", r->authority});
    host_added = true;
  }
  for (const auto& f : r->fields) {
    if (f.name == "host") {
      if (host_added) continue;
      if (!http1::IsValidHost(f.value)) return "bad host";
      host_added = true;
    }
    h.headers.push_back({f.name, f.value});
  }
  return nullptr;
}

std::vector<H2Field> H2ResponseFields(const http1::ResponseHead& resp,
                                      const http1::ConnectionInfo& connection,
                                      int set_cookie_bucket, std::string_view hsts) {
  std::vector<H2Field> out;
  out.reserve(resp.headers.size() + 1);
  for (const auto& h : resp.headers) {
    if (http1::IsHopByHop(h.name, connection)) continue;  // the framing is HTTP/2's own
    out.push_back({Lowercase(h.name), std::string(h.value)});
  }
  if (set_cookie_bucket >= 0) out.push_back({"set-cookie", CanaryCookie(set_cookie_bucket)});
  if (!hsts.empty() && !resp.Find("strict-transport-security")) {
    out.push_back({"strict-transport-security", std::string(hsts)});
  }
  return out;
}

}  // namespace gravity::proxy
