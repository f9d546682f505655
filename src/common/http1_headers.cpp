#include "common/http1.h"

#include <cctype>

#include "common/http1_chars.h"

// Header field rules: case-insensitive names, token lists, Connection and hop-by-hop
// fields, keep-alive, reason phrases.

namespace gravity::http1 {

namespace {

using internal::Lower;
using internal::TrimOws;

}  // namespace

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) return false;
  }
  return true;
}

bool HasToken(std::string_view value, std::string_view token) {
  while (true) {
    std::size_t comma = value.find(',');
    if (EqualsIgnoreCase(TrimOws(value.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) return false;
    value.remove_prefix(comma + 1);
  }
}

void ParseConnection(const std::vector<Header>& headers, ConnectionInfo* out) {
  out->close = out->keep_alive = out->upgrade = false;
  out->tokens.clear();
  for (const auto& h : headers) {
    if (!EqualsIgnoreCase(h.name, "connection")) continue;
    std::string_view rest = h.value;
    while (true) {
      std::size_t comma = rest.find(',');
      std::string_view item = TrimOws(rest.substr(0, comma));
      if (!item.empty()) {
        if (EqualsIgnoreCase(item, "close"))
          out->close = true;
        else if (EqualsIgnoreCase(item, "keep-alive"))
          out->keep_alive = true;
        else if (EqualsIgnoreCase(item, "upgrade"))
          out->upgrade = true;
        out->tokens.push_back(item);
      }
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
}

bool IsHopByHop(std::string_view name, const ConnectionInfo& connection) {
  static constexpr std::string_view kFixed[] = {"connection", "keep-alive", "proxy-connection",
                                                "te",         "trailer",    "transfer-encoding",
                                                "upgrade"};
  for (auto f : kFixed) {
    if (EqualsIgnoreCase(name, f)) return true;
  }
  // The Connection header may not remove fields the proxy's framing and routing rely on.
  if (EqualsIgnoreCase(name, "host") || EqualsIgnoreCase(name, "content-length")) return false;
  for (auto t : connection.tokens) {
    if (EqualsIgnoreCase(name, t)) return true;
  }
  return false;
}

bool KeepAlive(int version_minor, const ConnectionInfo& connection) {
  if (connection.close) return false;
  return version_minor >= 1 || connection.keep_alive;
}

const char* ReasonPhrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 411:
      return "Length Required";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 416:
      return "Range Not Satisfiable";
    case 417:
      return "Expectation Failed";
    case 422:
      return "Unprocessable Content";
    case 426:
      return "Upgrade Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

std::string PercentEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char ch : s) {
    if (std::isalnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
      out += static_cast<char>(ch);
    } else {
      out += '%';
      out += kHex[ch >> 4];
      out += kHex[ch & 15];
    }
  }
  return out;
}

}  // namespace gravity::http1
