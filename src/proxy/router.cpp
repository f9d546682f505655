#include "proxy/router.h"

#include <algorithm>

namespace gravity::proxy {

namespace {

bool PrefixMatches(std::string_view prefix, std::string_view path) {
  if (path.size() < prefix.size() || path.compare(0, prefix.size(), prefix) != 0) return false;
  if (path.size() == prefix.size() || prefix.back() == '/') return true;
  return path[prefix.size()] == '/';
}

}  // namespace

Result<Router> Router::Build(const std::vector<RouteKey>& routes) {
  Router r;
  auto add = [](std::vector<HostEntry>* list, HostEntry* single, const std::string& host,
                const RouteKey& key, int index, const std::vector<RouteKey>& all) -> Status {
    HostEntry* e = single;
    if (!e) {
      for (auto& x : *list) {
        if (x.host == host) e = &x;
      }
      if (!e) {
        list->push_back(HostEntry{host, {}});
        e = &list->back();
      }
    }
    std::string prefix = key.path_prefix;
    if (prefix.size() > 1 && prefix.back() == '/') prefix.pop_back();
    for (const auto& p : e->prefixes) {
      if (p.prefix == prefix) {
        return Status::Error("services '" + all[p.index].service + "' and '" + key.service +
                             "' both claim host '" + (single ? std::string("*") : key.hosts[0]) +
                             "' with path prefix '" + key.path_prefix + "'");
      }
    }
    e->prefixes.push_back(Prefix{prefix, index});
    return Status::Ok();
  };
  for (std::size_t i = 0; i < routes.size(); ++i) {
    const RouteKey& key = routes[i];
    for (const auto& h : key.hosts) {
      RouteKey named = key;
      named.hosts = {h};
      Status st;
      if (h == "*") {
        st = add(nullptr, &r.default_, h, named, static_cast<int>(i), routes);
      } else if (h.rfind("*.", 0) == 0) {
        st = add(&r.wildcard_, nullptr, h.substr(1), named, static_cast<int>(i), routes);
      } else {
        st = add(&r.exact_, nullptr, h, named, static_cast<int>(i), routes);
      }
      if (!st.ok()) {
        // Name the conflicting host as written.
        return st;
      }
    }
  }
  auto by_length = [](const Prefix& a, const Prefix& b) {
    return a.prefix.size() > b.prefix.size();
  };
  for (auto* list : {&r.exact_, &r.wildcard_}) {
    for (auto& e : *list) std::sort(e.prefixes.begin(), e.prefixes.end(), by_length);
  }
  std::sort(r.default_.prefixes.begin(), r.default_.prefixes.end(), by_length);
  std::sort(r.wildcard_.begin(), r.wildcard_.end(),
            [](const HostEntry& a, const HostEntry& b) { return a.host.size() > b.host.size(); });
  return r;
}

int Router::MatchPrefix(const HostEntry& e, std::string_view path) {
  for (const auto& p : e.prefixes) {
    if (PrefixMatches(p.prefix, path)) return p.index;
  }
  return -1;
}

int Router::Match(std::string_view host, std::string_view target) const {
  // Strip the port: "[::1]:8080" -> "[::1]", "a.b:80" -> "a.b".
  if (!host.empty() && host.front() == '[') {
    std::size_t close = host.find(']');
    if (close != std::string_view::npos) host = host.substr(0, close + 1);
  } else {
    std::size_t colon = host.rfind(':');
    if (colon != std::string_view::npos) host = host.substr(0, colon);
  }
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  char lower[256];
  if (host.size() > sizeof(lower)) host = {};
  for (std::size_t i = 0; i < host.size(); ++i) {
    char c = host[i];
    lower[i] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
  }
  std::string_view h(lower, host.size());

  std::string_view path = target;
  std::size_t q = path.find_first_of("?#");
  if (q != std::string_view::npos) path = path.substr(0, q);
  if (path.empty() || path[0] != '/') {
    // Absolute-form "http://host/path" or "*": route on the path part when present.
    std::size_t scheme = path.find("://");
    std::size_t slash =
        scheme == std::string_view::npos ? std::string_view::npos : path.find('/', scheme + 3);
    path = slash == std::string_view::npos ? std::string_view("/") : path.substr(slash);
  }

  for (const auto& e : exact_) {
    if (e.host == h) {
      int i = MatchPrefix(e, path);
      if (i >= 0) return i;
      break;
    }
  }
  for (const auto& e : wildcard_) {
    if (h.size() > e.host.size() &&
        h.compare(h.size() - e.host.size(), e.host.size(), e.host) == 0) {
      int i = MatchPrefix(e, path);
      if (i >= 0) return i;
    }
  }
  return MatchPrefix(default_, path);
}

}  // namespace gravity::proxy
