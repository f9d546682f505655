#include "api/router.h"

#include <openssl/crypto.h>

#include <cctype>

#include "common/net.h"

namespace gravity::api {

namespace {

std::vector<std::string> SplitPath(const std::string& path) {
  std::vector<std::string> out;
  std::size_t start = 1;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    out.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  if (!out.empty() && out.back().empty()) out.pop_back();  // trailing slash
  return out;
}

bool Decode(const std::string& in, std::string* out, bool plus_is_space) {
  out->clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      auto hex = [](char h) -> int {
        if (h >= '0' && h <= '9') return h - '0';
        if (h >= 'a' && h <= 'f') return h - 'a' + 10;
        if (h >= 'A' && h <= 'F') return h - 'A' + 10;
        return -1;
      };
      int hi = hex(in[i + 1]), lo = hex(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out->push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out->push_back(' ');
    } else {
      out->push_back(c);
    }
  }
  return true;
}

}  // namespace

std::string Request::Header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? "" : it->second;
}

std::string Request::Query(const std::string& name, const std::string& fallback) const {
  auto it = query.find(name);
  return it == query.end() ? fallback : it->second;
}

std::string Request::Param(const std::string& name) const {
  auto it = params.find(name);
  return it == params.end() ? "" : it->second;
}

Response Response::Json(int status, const nlohmann::json& body) {
  Response r;
  r.status = status;
  // Messages quote what users sent (paths, file contents); bytes that are not UTF-8 are
  // replaced (U+FFFD) rather than making dump() throw.
  r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  return r;
}

Response Response::Error(int status, const std::string& message) {
  return Json(status, {{"ok", false}, {"error", message}});
}

bool Router::ParseTarget(const std::string& target, std::string* path,
                         std::map<std::string, std::string>* query) {
  if (target.empty() || target[0] != '/') return false;
  std::size_t q = target.find('?');
  if (!Decode(target.substr(0, q), path, false)) return false;
  query->clear();
  if (q == std::string::npos) return true;
  std::string rest = target.substr(q + 1);
  std::size_t start = 0;
  while (start <= rest.size()) {
    std::size_t end = rest.find('&', start);
    if (end == std::string::npos) end = rest.size();
    std::string pair = rest.substr(start, end - start);
    if (!pair.empty()) {
      std::size_t eq = pair.find('=');
      std::string k, v;
      if (!Decode(pair.substr(0, eq), &k, true)) return false;
      if (eq != std::string::npos && !Decode(pair.substr(eq + 1), &v, true)) return false;
      (*query)[k] = v;
    }
    start = end + 1;
  }
  return true;
}

void Router::Add(const std::string& method, const std::string& pattern, Handler handler,
                 Auth auth) {
  bool needs =
      auth == Auth::kToken || (auth == Auth::kDefault && method != "GET" && method != "HEAD");
  routes_.push_back({method, SplitPath(pattern), std::move(handler), auth, needs});
}

bool Router::Match(const Route& route, const std::vector<std::string>& segments,
                   std::map<std::string, std::string>* params) {
  if (route.segments.size() != segments.size()) return false;
  std::map<std::string, std::string> found;
  for (std::size_t i = 0; i < segments.size(); ++i) {
    const std::string& want = route.segments[i];
    if (!want.empty() && want[0] == ':') {
      if (segments[i].empty()) return false;
      found[want.substr(1)] = segments[i];
    } else if (want != segments[i]) {
      return false;
    }
  }
  *params = std::move(found);
  return true;
}

Response Router::Handle(Request request) const {
  if (request.path.empty() && !ParseTarget(request.target, &request.path, &request.query)) {
    return Response::Error(400, "malformed request target");
  }
  // Signed webhooks are judged by their signature, whatever name a tunnel kept.
  if (loopback_host_only_ && request.path.rfind("/hooks/", 0) != 0) {
    std::string host = request.Header("host");
    auto colon = host.rfind(':');
    if (colon != std::string::npos && host.find(']', colon) == std::string::npos) host.resize(colon);
    for (auto& c : host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (!host.empty() && host.back() == '.') host.pop_back();
    if (!host.empty() && !IsLoopbackHost(host)) {
      return Response::Error(421, "this API answers only requests for a loopback host, not '" +
                                      request.Header("host") + "'");
    }
  }
  std::vector<std::string> segments = SplitPath(request.path);
  bool path_known = false;
  for (const auto& route : routes_) {
    std::map<std::string, std::string> params;
    if (!Match(route, segments, &params)) continue;
    path_known = true;
    if (route.method != request.method) continue;
    if (route.needs_token || (reads_need_token_ && route.auth == Auth::kDefault)) {
      std::string auth = request.Header("authorization");
      const std::string prefix = "Bearer ";
      std::string given = auth.rfind(prefix, 0) == 0 ? auth.substr(prefix.size()) : "";
      if (token_.empty() || given.size() != token_.size() ||
          CRYPTO_memcmp(given.data(), token_.data(), token_.size()) != 0) {
        Response r = Response::Error(401, given.empty()
                                              ? "this call needs the bearer token (state_dir/token)"
                                              : "wrong bearer token");
        r.headers.emplace_back("WWW-Authenticate", "Bearer");
        return r;
      }
    }
    request.params = std::move(params);
    try {
      return route.handler(request);
    } catch (const std::exception& e) {
      return Response::Error(500, std::string("internal error: ") + e.what());
    }
  }
  if (path_known) return Response::Error(405, "method " + request.method + " not allowed here");
  return Response::Error(404, "no such endpoint: " + request.path);
}

}  // namespace gravity::api
