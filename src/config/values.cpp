#include "config/values.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <filesystem>

#include "config/checker.h"
#include "config/config.h"

namespace gravity::config {

bool ValidName(const std::string& s) {
  if (s.empty() || s.size() > 63) return false;
  if (!std::islower(static_cast<unsigned char>(s[0])) &&
      !std::isdigit(static_cast<unsigned char>(s[0])))
    return false;
  return std::all_of(s.begin(), s.end(), [](char ch) {
    return std::islower(static_cast<unsigned char>(ch)) ||
           std::isdigit(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_';
  });
}

std::string NameRule() {
  return "use lowercase letters, digits, '-' and '_', starting with a letter or digit, at most "
         "63 characters";
}

namespace {

bool ValidHostLabel(std::string_view label) {
  if (label.empty() || label.size() > 63) return false;
  if (label.front() == '-' || label.back() == '-') return false;
  return std::all_of(label.begin(), label.end(), [](char ch) {
    return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-';
  });
}

}  // namespace

bool ValidHostName(std::string_view h) {
  if (h.empty() || h.size() > 253) return false;
  size_t start = 0;
  while (true) {
    size_t dot = h.find('.', start);
    std::string_view label = h.substr(start, dot == std::string_view::npos ? h.npos : dot - start);
    if (!ValidHostLabel(label)) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

std::string CheckRouteHost(const std::string& h) {
  if (h == "*") return "";
  if (h.find(':') != std::string::npos) return "a host is a name without a port";
  std::string_view name = h;
  if (name.rfind("*.", 0) == 0) name.remove_prefix(2);
  if (!ValidHostName(name)) {
    return "expected \"*\", \"*.example.com\" or a host name such as www.example.com";
  }
  return "";
}

std::string CheckBranch(const std::string& b) {
  if (b.empty()) return "must not be empty";
  if (b[0] == '-' || b[0] == '/' || b.back() == '/' || b.back() == '.')
    return "is not a valid branch name";
  if (b.size() >= 5 && b.compare(b.size() - 5, 5, ".lock") == 0)
    return "is not a valid branch name";
  if (b.find("..") != std::string::npos || b.find("//") != std::string::npos ||
      b.find("@{") != std::string::npos || b == "@")
    return "is not a valid branch name";
  for (char ch : b) {
    if (static_cast<unsigned char>(ch) <= 0x20 || ch == 0x7f || ch == '~' || ch == '^' ||
        ch == ':' || ch == '?' || ch == '*' || ch == '[' || ch == '\\')
      return "is not a valid branch name";
  }
  return "";
}

bool ValidEnvVarName(const std::string& s) {
  if (s.empty()) return false;
  if (!(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  return std::all_of(s.begin(), s.end(), [](char ch) {
    return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_';
  });
}

bool IsRemoteUrl(const std::string& repo) {
  if (repo.find("://") != std::string::npos) return true;
  // scp-like: user@host:path
  size_t at = repo.find('@');
  size_t colon = repo.find(':');
  size_t slash = repo.find('/');
  return at != std::string::npos && colon != std::string::npos && at < colon &&
         (slash == std::string::npos || colon < slash);
}

std::string Resolve(const std::string& base_dir, const std::string& p) {
  std::filesystem::path path(p);
  if (path.is_relative()) path = std::filesystem::path(base_dir) / path;
  std::string s = path.lexically_normal().string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

Result<double> ParseRate(const std::string& s) {
  std::string num = s;
  bool percent = !num.empty() && num.back() == '%';
  if (percent) num.pop_back();
  double v = 0;
  auto [p, ec] = std::from_chars(num.data(), num.data() + num.size(), v);
  if (num.empty() || ec != std::errc() || p != num.data() + num.size()) {
    return Status::Error("expected a rate such as 1% or 0.01, got " + Quote(s));
  }
  if (percent) v /= 100.0;
  // Written so that NaN ("nan" parses as a number) is refused too.
  if (!(v >= 0 && v <= 1)) return Status::Error("must be between 0% and 100%, got " + s);
  return v;
}

bool ValidIp(const std::string& h, bool v6) {
  unsigned char buf[16];
  return inet_pton(v6 ? AF_INET6 : AF_INET, h.c_str(), buf) == 1;
}

Result<ListenAddress> ParseListenAddress(std::string_view text) {
  std::string t(text);
  auto bad = [&](const std::string& why) {
    return Status::Error("invalid listen address " + Quote(t) + ": " + why +
                         " (write e.g. 127.0.0.1:8080 or [::1]:8080)");
  };
  ListenAddress out;
  std::string port_text;
  if (!t.empty() && t[0] == '[') {
    size_t close = t.find(']');
    if (close == std::string::npos) return bad("missing ']'");
    out.host = t.substr(1, close - 1);
    if (!ValidIp(out.host, true)) return bad(Quote(out.host) + " is not an IPv6 address");
    if (close + 1 >= t.size() || t[close + 1] != ':') return bad("missing ':PORT'");
    port_text = t.substr(close + 2);
  } else {
    size_t colon = t.rfind(':');
    if (colon == std::string::npos) return bad("missing ':PORT'");
    out.host = t.substr(0, colon);
    port_text = t.substr(colon + 1);
    if (out.host.empty()) return bad("missing host");
    if (out.host.find(':') != std::string::npos) return bad("put an IPv6 address in brackets");
    bool dotted = std::all_of(out.host.begin(), out.host.end(), [](char ch) {
      return std::isdigit(static_cast<unsigned char>(ch)) || ch == '.';
    });
    if (dotted ? !ValidIp(out.host, false) : !ValidHostName(out.host)) {
      return bad(Quote(out.host) + " is not an IP address or host name");
    }
  }
  int port = 0;
  auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || p != port_text.data() + port_text.size()) {
    return bad("port " + Quote(port_text) + " is not a number");
  }
  if (port < 1 || port > 65535) return bad("port must be between 1 and 65535");
  out.port = static_cast<std::uint16_t>(port);
  return out;
}

}  // namespace gravity::config
