#include <cstring>

#include "common/http1.h"
#include "common/http1_chars.h"

// Request and response heads: finding the end of the head, the start line, header field
// lines, the request-target forms and Host validation (RFC 9112 2-5, RFC 9110 5).

namespace gravity::http1 {

namespace {

using internal::IsFieldChar;
using internal::IsHex;
using internal::IsOws;
using internal::IsTargetChar;
using internal::IsTchar;
using internal::kRegNameChar;
using internal::TrimOws;

ParseResult Error(int status, const char* reason) {
  ParseResult r;
  r.status = ParseStatus::kError;
  r.error_status = status;
  r.error_reason = reason;
  return r;
}

// Splits the head into lines, each ended by CRLF. A bare LF is not a line end here: a
// recipient may accept one (RFC 9112 2.2), but a head that mixes the two is the classic
// shape of a smuggling attempt against a server that reads it differently, so `bare_lf`
// reports it and the caller refuses the message. A CR anywhere else stays in the line, where
// the character checks reject it.
class LineReader {
 public:
  explicit LineReader(std::string_view head) : head_(head) {}
  bool Next(std::string_view* line) {
    if (pos_ >= head_.size()) return false;
    const void* nl = std::memchr(head_.data() + pos_, '\n', head_.size() - pos_);
    std::size_t end = nl ? static_cast<const char*>(nl) - head_.data() : head_.size();
    std::string_view l = head_.substr(pos_, end - pos_);
    if (!l.empty() && l.back() == '\r') {
      l.remove_suffix(1);
    } else if (nl) {
      bare_lf_ = true;
    }
    pos_ = end + 1;
    *line = l;
    return true;
  }
  std::size_t pos() const { return pos_; }
  bool bare_lf() const { return bare_lf_; }

 private:
  std::string_view head_;
  std::size_t pos_ = 0;
  bool bare_lf_ = false;
};

// Skips empty lines before the start line (RFC 9112 2.2). Returns false on a stray CR.
bool SkipLeadingEmptyLines(std::string_view head, std::size_t* pos) {
  std::size_t i = 0;
  while (i < head.size()) {
    if (head[i] == '\n') {
      ++i;
    } else if (head[i] == '\r') {
      if (i + 1 < head.size() && head[i + 1] == '\n') {
        i += 2;
      } else {
        return false;
      }
    } else {
      break;
    }
  }
  *pos = i;
  return true;
}

// Parses header lines into `headers`. `is_request` selects status codes for errors.
ParseResult ParseHeaderLines(LineReader* reader, const Limits& limits, bool is_request,
                             std::vector<Header>* headers) {
  const int bad = is_request ? 400 : 502;
  std::string_view line;
  while (reader->Next(&line)) {
    if (reader->bare_lf()) return Error(bad, "line ended by a bare LF (CRLF required)");
    if (line.empty()) return ParseResult{ParseStatus::kComplete, 0, 0, ""};
    if (headers->size() >= limits.max_headers) {
      return is_request ? Error(431, "too many header fields")
                        : Error(502, "too many header fields");
    }
    if (IsOws(line.front())) return Error(bad, "obsolete line folding in header field");
    std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) return Error(bad, "header line without a colon");
    std::string_view name = line.substr(0, colon);
    if (name.empty()) return Error(bad, "empty header field name");
    for (char c : name) {
      if (!IsTchar(c)) {
        return IsOws(c) ? Error(bad, "whitespace between header field name and colon")
                        : Error(bad, "invalid character in header field name");
      }
    }
    std::string_view value = TrimOws(line.substr(colon + 1));
    for (char c : value) {
      if (!IsFieldChar(c)) return Error(bad, "invalid character in header field value");
    }
    headers->push_back(Header{name, value});
  }
  return Error(bad, "header section not terminated");
}

// "HTTP/1.0" -> 0, "HTTP/1.1" -> 1; a later 1.x is handled as 1.1 (RFC 9110 2.5);
// -2 for another major version; -1 for garbage.
int ParseVersion(std::string_view v) {
  if (v.size() != 8 || v.substr(0, 5) != "HTTP/" || v[6] != '.') return -1;
  if (v[5] < '0' || v[5] > '9' || v[7] < '0' || v[7] > '9') return -1;
  if (v[5] != '1') return -2;
  return v[7] == '0' ? 0 : 1;
}

bool EqualsPrefixIgnoreCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && EqualsIgnoreCase(s.substr(0, prefix.size()), prefix);
}

// Sorts the request-target into its form and checks that the method allows it.
const char* ClassifyTarget(std::string_view method, std::string_view target, RequestHead* out) {
  out->authority = {};
  out->origin = target;
  if (method == "CONNECT") {
    out->form = TargetForm::kAuthority;
    out->origin = {};
    out->authority = target;
    if (!IsValidHost(target) || target.find(':') == std::string_view::npos)
      return "CONNECT needs a host:port target";
  } else if (target.front() == '/') {
    out->form = TargetForm::kOrigin;
  } else if (target == "*") {
    // Server-wide: OPTIONS, and extension methods that define it (e.g. M-SEARCH); never a
    // method of RFC 9110 that acts on a resource.
    out->form = TargetForm::kAsterisk;
    for (std::string_view m : {"GET", "HEAD", "POST", "PUT", "DELETE", "TRACE", "PATCH"}) {
      if (method == m) return "request target \"*\" is only for OPTIONS";
    }
  } else {
    std::size_t rest = 0;
    if (EqualsPrefixIgnoreCase(target, "http://")) {
      rest = 7;
    } else if (EqualsPrefixIgnoreCase(target, "https://")) {
      rest = 8;
    } else {
      return "malformed request target (neither /path nor an http(s) URL)";
    }
    std::size_t end = target.find_first_of("/?#", rest);
    if (end == std::string_view::npos) end = target.size();
    out->form = TargetForm::kAbsolute;
    out->authority = target.substr(rest, end - rest);
    out->origin = target.substr(end);
    // User information is never passed on: Host is the authority without it (RFC 9112 3.2).
    if (std::size_t at = out->authority.rfind('@'); at != std::string_view::npos) {
      out->authority.remove_prefix(at + 1);
    }
    if (out->authority.empty()) return "request target URL without a host";
    if (!IsValidHost(out->authority)) return "invalid host in request target URL";
  }
  return nullptr;
}

const Header* FindHeader(const std::vector<Header>& headers, std::string_view name) {
  for (const auto& h : headers) {
    if (EqualsIgnoreCase(h.name, name)) return &h;
  }
  return nullptr;
}

}  // namespace

std::size_t HeadScanner::FindEnd(std::string_view d) {
  std::size_t start = 0;
  while (start < d.size() && (d[start] == '\r' || d[start] == '\n')) ++start;
  std::size_t i = scanned_ > start ? scanned_ : start;
  while (i < d.size()) {
    const void* p = std::memchr(d.data() + i, '\n', d.size() - i);
    if (!p) {
      scanned_ = d.size();
      return 0;
    }
    i = static_cast<const char*>(p) - d.data();
    // A blank line follows this LF: "\n\n" or "\n\r\n".
    if (i + 1 >= d.size()) break;
    if (d[i + 1] == '\n') return i + 2;
    if (d[i + 1] == '\r') {
      if (i + 2 >= d.size()) break;
      if (d[i + 2] == '\n') return i + 3;
    }
    ++i;
  }
  scanned_ = i;  // rescan from this LF next time
  return 0;
}

const Header* RequestHead::Find(std::string_view name) const { return FindHeader(headers, name); }
const Header* ResponseHead::Find(std::string_view name) const { return FindHeader(headers, name); }

// The head is over the limit: 414 while still inside the request line, else 431.
ParseResult HeadTooLarge(std::string_view data, const Limits& limits) {
  std::size_t i = 0;
  while (i < data.size() && (data[i] == '\r' || data[i] == '\n')) ++i;
  std::size_t lf = data.find('\n', i);
  if (lf == std::string_view::npos || lf - i > limits.max_head_bytes) {
    return Error(414, "request line (target) too long");
  }
  return Error(431, "request header section too large");
}

ParseResult ParseRequestHead(std::string_view data, const Limits& limits, RequestHead* out,
                             HeadScanner* scanner) {
  HeadScanner local;
  std::size_t end = (scanner ? scanner : &local)->FindEnd(data);
  if (end == 0) {
    if (data.size() > limits.max_head_bytes) return HeadTooLarge(data, limits);
    // Refuse at once what cannot become a request line (e.g. a TLS handshake).
    std::size_t i = 0;
    while (i < data.size() && (data[i] == '\r' || data[i] == '\n')) ++i;
    for (; i < data.size() && data[i] != ' '; ++i) {
      if (!IsTchar(data[i])) return Error(400, "invalid character in method");
    }
    return ParseResult{};
  }
  if (end > limits.max_head_bytes) return HeadTooLarge(data, limits);
  std::string_view head = data.substr(0, end);
  std::size_t start = 0;
  if (!SkipLeadingEmptyLines(head, &start)) return Error(400, "stray CR before request line");
  LineReader reader(head.substr(start));
  std::string_view line;
  reader.Next(&line);

  // request-line = method SP request-target SP HTTP-version
  std::size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos || sp1 == 0) return Error(400, "malformed request line");
  std::size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || sp2 == sp1 + 1) return Error(400, "malformed request line");
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  for (char c : method) {
    if (!IsTchar(c)) return Error(400, "invalid character in method");
  }
  for (char c : target) {
    if (!IsTargetChar(c)) return Error(400, "invalid character in request target");
  }
  int minor = ParseVersion(version);
  if (minor == -2) return Error(505, "HTTP version not supported");
  if (minor < 0) return Error(400, "malformed HTTP version");
  if (const char* why = ClassifyTarget(method, target, out)) return Error(400, why);

  out->method = method;
  out->target = target;
  out->version_minor = minor;
  out->headers.clear();
  ParseResult r = ParseHeaderLines(&reader, limits, /*is_request=*/true, &out->headers);
  if (r.status == ParseStatus::kError) return r;

  int hosts = 0;
  for (const auto& h : out->headers) {
    if (!EqualsIgnoreCase(h.name, "host")) continue;
    ++hosts;
    if (!IsValidHost(h.value)) return Error(400, "invalid Host header");
  }
  if (hosts > 1) return Error(400, "more than one Host header");
  if (hosts == 0 && minor == 1) return Error(400, "HTTP/1.1 request without Host header");

  r.head_length = end;
  return r;
}

ParseResult ParseResponseHead(std::string_view data, const Limits& limits, ResponseHead* out,
                              HeadScanner* scanner) {
  HeadScanner local;
  std::size_t end = (scanner ? scanner : &local)->FindEnd(data);
  if (end == 0) {
    if (data.size() > limits.max_head_bytes) return Error(502, "response header section too large");
    return ParseResult{};
  }
  if (end > limits.max_head_bytes) return Error(502, "response header section too large");
  std::string_view head = data.substr(0, end);
  std::size_t start = 0;
  if (!SkipLeadingEmptyLines(head, &start)) return Error(502, "stray CR before status line");
  LineReader reader(head.substr(start));
  std::string_view line;
  reader.Next(&line);

  // status-line = HTTP-version SP status-code SP [ reason-phrase ]
  if (line.size() < 12 || line[8] != ' ') return Error(502, "malformed status line");
  int minor = ParseVersion(line.substr(0, 8));
  if (minor < 0) return Error(502, "malformed HTTP version in status line");
  int status = 0;
  for (int i = 9; i < 12; ++i) {
    char c = line[i];
    if (c < '0' || c > '9') return Error(502, "malformed status code");
    status = status * 10 + (c - '0');
  }
  if (status < 100) return Error(502, "malformed status code");
  std::string_view reason;
  if (line.size() > 12) {
    if (line[12] != ' ') return Error(502, "malformed status line");
    reason = line.substr(13);
    for (char c : reason) {
      if (!IsFieldChar(c)) return Error(502, "invalid character in reason phrase");
    }
  }
  out->version_minor = minor;
  out->status = status;
  out->reason = reason;
  out->headers.clear();
  ParseResult r = ParseHeaderLines(&reader, limits, /*is_request=*/false, &out->headers);
  if (r.status == ParseStatus::kError) return r;
  r.head_length = end;
  return r;
}

bool IsValidHost(std::string_view v) {
  std::size_t i = 0;
  if (!v.empty() && v.front() == '[') {
    std::size_t close = v.find(']');
    if (close == std::string_view::npos || close < 3) return false;
    for (std::size_t k = 1; k < close; ++k) {
      char c = v[k];
      if (!IsHex(c) && c != ':' && c != '.') return false;
    }
    i = close + 1;
  } else {
    while (i < v.size() && v[i] != ':') {
      if (v[i] == '%') {
        if (i + 2 >= v.size() || !IsHex(v[i + 1]) || !IsHex(v[i + 2])) return false;
        i += 3;
        continue;
      }
      if (!kRegNameChar[static_cast<unsigned char>(v[i])]) return false;
      ++i;
    }
  }
  if (i == v.size()) return true;
  if (v[i] != ':' || v.size() - i - 1 > 5) return false;
  for (++i; i < v.size(); ++i) {
    if (v[i] < '0' || v[i] > '9') return false;
  }
  return true;
}

}  // namespace gravity::http1
