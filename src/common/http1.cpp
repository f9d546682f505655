#include "common/http1.h"

#include <array>
#include <cstring>

namespace gravity::http1 {

namespace {

// Character classes (RFC 9110 5.6.2 tchar, 5.5 field-vchar / obs-text).
constexpr std::array<bool, 256> MakeTchar() {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
  return t;
}
constexpr std::array<bool, 256> MakeFieldChar() {
  std::array<bool, 256> t{};
  t['\t'] = true;
  for (int c = 0x20; c <= 0x7e; ++c) t[c] = true;
  for (int c = 0x80; c <= 0xff; ++c) t[c] = true;
  return t;
}
constexpr std::array<bool, 256> MakeTargetChar() {
  std::array<bool, 256> t{};
  for (int c = 0x21; c <= 0x7e; ++c) t[c] = true;  // visible ASCII; raw bytes >= 0x80 refused
  return t;
}
constexpr std::array<bool, 256> MakeRegNameChar() {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
  // unreserved and sub-delims (RFC 3986 3.2.2)
  for (char c : std::string_view("-._~!$&'()*+,;=")) t[static_cast<unsigned char>(c)] = true;
  return t;
}
constexpr auto kTchar = MakeTchar();
constexpr auto kFieldChar = MakeFieldChar();
constexpr auto kTargetChar = MakeTargetChar();
constexpr auto kRegNameChar = MakeRegNameChar();

inline bool IsTchar(char c) { return kTchar[static_cast<unsigned char>(c)]; }
inline bool IsFieldChar(char c) { return kFieldChar[static_cast<unsigned char>(c)]; }
inline bool IsTargetChar(char c) { return kTargetChar[static_cast<unsigned char>(c)]; }
inline bool IsOws(char c) { return c == ' ' || c == '\t'; }
inline bool IsHex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
inline char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

ParseResult Error(int status, const char* reason) {
  ParseResult r;
  r.status = ParseStatus::kError;
  r.error_status = status;
  r.error_reason = reason;
  return r;
}

Framing FramingError(int status, const char* reason) {
  Framing f;
  f.error_status = status;
  f.error_reason = reason;
  return f;
}

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && IsOws(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsOws(s.back())) s.remove_suffix(1);
  return s;
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

// Content-Length: every value (comma lists and repeated fields) must be the same run of
// digits. Returns -1 when absent, -2 when invalid.
std::int64_t ParseContentLength(const std::vector<Header>& headers, const char** why) {
  std::int64_t result = -1;
  for (const auto& h : headers) {
    if (!EqualsIgnoreCase(h.name, "content-length")) continue;
    std::string_view rest = h.value;
    bool any = false;
    while (true) {
      std::size_t comma = rest.find(',');
      std::string_view item = TrimOws(rest.substr(0, comma));
      if (item.empty() || item.size() > 18) {
        *why = item.empty() ? "empty Content-Length" : "Content-Length too large";
        return -2;
      }
      std::int64_t v = 0;
      for (char c : item) {
        if (c < '0' || c > '9') {
          *why = "malformed Content-Length";
          return -2;
        }
        v = v * 10 + (c - '0');
      }
      if (result >= 0 && v != result) {
        *why = "differing Content-Length values";
        return -2;
      }
      result = v;
      any = true;
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
    if (!any) {
      *why = "empty Content-Length";
      return -2;
    }
  }
  return result;
}

enum class Coding {
  kAbsent,
  kChunked,
  kChunkedLastOfMany,
  kNotChunkedLast,  // no chunked at all
  kChunkedNotLast,  // chunked, then another coding
  kMalformed,
  kRepeatedChunked
};

// Classifies all Transfer-Encoding fields together.
Coding ClassifyTransferEncoding(const std::vector<Header>& headers) {
  bool present = false;
  int count = 0;
  int chunked_count = 0;
  bool last_is_chunked = false;
  for (const auto& h : headers) {
    if (!EqualsIgnoreCase(h.name, "transfer-encoding")) continue;
    present = true;
    std::string_view rest = h.value;
    while (true) {
      std::size_t comma = rest.find(',');
      std::string_view item = TrimOws(rest.substr(0, comma));
      if (!item.empty()) {
        // A coding is a token, optionally with parameters after ';'.
        std::string_view name = TrimOws(item.substr(0, item.find(';')));
        if (name.empty()) return Coding::kMalformed;
        for (char c : name) {
          if (!IsTchar(c)) return Coding::kMalformed;
        }
        ++count;
        last_is_chunked = EqualsIgnoreCase(name, "chunked") && name.size() == item.size();
        if (EqualsIgnoreCase(name, "chunked")) ++chunked_count;
      }
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  if (!present) return Coding::kAbsent;
  if (count == 0) return Coding::kMalformed;
  if (chunked_count > 1) return Coding::kRepeatedChunked;
  if (!last_is_chunked) return chunked_count ? Coding::kChunkedNotLast : Coding::kNotChunkedLast;
  return count == 1 ? Coding::kChunked : Coding::kChunkedLastOfMany;
}

}  // namespace

// ---- heads ---------------------------------------------------------------------------

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

// ---- framing -------------------------------------------------------------------------

Framing RequestFraming(const RequestHead& head) {
  const char* why = "";
  std::int64_t length = ParseContentLength(head.headers, &why);
  if (length == -2) return FramingError(400, why);
  Coding coding = ClassifyTransferEncoding(head.headers);
  if (coding != Coding::kAbsent) {
    if (length >= 0) return FramingError(400, "both Transfer-Encoding and Content-Length");
    if (head.version_minor == 0)
      return FramingError(400, "Transfer-Encoding in an HTTP/1.0 request");
    switch (coding) {
      case Coding::kChunked: {
        Framing f;
        f.kind = BodyKind::kChunked;
        return f;
      }
      case Coding::kChunkedLastOfMany:
        return FramingError(501, "transfer coding not supported");
      case Coding::kNotChunkedLast:
      case Coding::kChunkedNotLast:
        return FramingError(400, "request Transfer-Encoding does not end in chunked");
      case Coding::kRepeatedChunked:
        return FramingError(400, "chunked applied more than once");
      default:
        return FramingError(400, "malformed Transfer-Encoding");
    }
  }
  Framing f;
  if (length > 0) {
    f.kind = BodyKind::kContentLength;
    f.length = static_cast<std::uint64_t>(length);
  }
  return f;
}

Framing ResponseFraming(const ResponseHead& head, std::string_view request_method) {
  Framing f;
  if (request_method == "HEAD" || (head.status >= 100 && head.status < 200) || head.status == 204 ||
      head.status == 304) {
    return f;
  }
  if (request_method == "CONNECT" && head.status >= 200 && head.status < 300) return f;
  const char* why = "";
  std::int64_t length = ParseContentLength(head.headers, &why);
  if (length == -2) return FramingError(502, why);
  Coding coding = ClassifyTransferEncoding(head.headers);
  if (coding != Coding::kAbsent) {
    if (length >= 0) return FramingError(502, "both Transfer-Encoding and Content-Length");
    switch (coding) {
      case Coding::kChunked:
      case Coding::kChunkedLastOfMany:
        f.kind = BodyKind::kChunked;
        return f;
      case Coding::kNotChunkedLast:
      case Coding::kChunkedNotLast:
        f.kind = BodyKind::kUntilClose;
        return f;
      default:
        return FramingError(502, "malformed Transfer-Encoding");
    }
  }
  if (length >= 0) {
    f.kind = length ? BodyKind::kContentLength : BodyKind::kNone;
    f.length = static_cast<std::uint64_t>(length);
    return f;
  }
  f.kind = BodyKind::kUntilClose;
  return f;
}

// ---- chunked -------------------------------------------------------------------------

std::size_t ChunkedDecoder::Fail(const char* why) {
  state_ = State::kError;
  error_ = why;
  return 0;
}

bool ChunkedDecoder::Reject(const char* why) {
  Fail(why);
  return false;
}

// chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] ) (RFC 9112
// 7.1.1). Whitespace is allowed only where the grammar has BWS: never right before CRLF.
bool ChunkedDecoder::ExtensionChar(char c) {
  if (++line_bytes_ > limits_.max_line_bytes) return Reject("chunk extension too long");
  const bool ows = IsOws(c);
  switch (state_) {
    case State::kExtBws:  // whitespace is only allowed before ";" (no trailing whitespace)
      if (c == ';') state_ = State::kExtNameStart;
      else if (!ows) return Reject("malformed chunk extension (whitespace before CRLF)");
      return true;
    case State::kExtAfterQuoted:
      if (c == ';') state_ = State::kExtNameStart;
      else if (c == '\r') state_ = State::kSizeLf;
      else if (ows) state_ = State::kExtBws;
      else return Reject("malformed chunk extension value");
      return true;
    case State::kExtNameStart:
      if (IsTchar(c)) state_ = State::kExtName;
      else if (!ows) return Reject("malformed chunk extension name");
      return true;
    case State::kExtName:
    case State::kExtAfterName:
      if (c == '=') state_ = State::kExtValStart;
      else if (c == ';') state_ = State::kExtNameStart;
      else if (ows) state_ = State::kExtAfterName;
      else if (c == '\r' && state_ == State::kExtName) state_ = State::kSizeLf;
      else if (!IsTchar(c) || state_ == State::kExtAfterName)
        return Reject("malformed chunk extension name");
      return true;
    case State::kExtValStart:
      if (c == '"') state_ = State::kExtQuoted;
      else if (IsTchar(c)) state_ = State::kExtToken;
      else if (!ows) return Reject("malformed chunk extension value");
      return true;
    case State::kExtToken:
      if (c == ';') state_ = State::kExtNameStart;
      else if (c == '\r') state_ = State::kSizeLf;
      else if (ows) state_ = State::kExtBws;
      else if (!IsTchar(c)) return Reject("malformed chunk extension value");
      return true;
    case State::kExtQuoted:
      if (c == '"') state_ = State::kExtAfterQuoted;
      else if (c == '\\') state_ = State::kExtQuotedEsc;
      else if (!IsFieldChar(c)) return Reject("invalid character in chunk extension");
      return true;
    case State::kExtQuotedEsc:
      if (!IsFieldChar(c)) return Reject("invalid character in chunk extension");
      state_ = State::kExtQuoted;
      return true;
    default:
      return Reject("internal chunked decoder state");
  }
}

std::size_t ChunkedDecoder::Feed(std::string_view data, std::string* payload) {
  std::size_t i = 0;
  const std::size_t n = data.size();
  while (i < n) {
    if (state_ == State::kDone) return i;
    if (state_ == State::kError) return 0;
    if (state_ == State::kData) {
      std::uint64_t take = n - i;
      if (take > remaining_) take = remaining_;
      if (payload) payload->append(data.data() + i, take);
      i += take;
      remaining_ -= take;
      data_bytes_ += take;
      if (remaining_ == 0) state_ = State::kDataCr;
      continue;
    }
    char c = data[i++];
    switch (state_) {
      case State::kSize: {
        int digit = -1;
        if (c >= '0' && c <= '9')
          digit = c - '0';
        else if (c >= 'a' && c <= 'f')
          digit = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
          digit = c - 'A' + 10;
        if (digit >= 0) {
          // Leading zeros do not count toward the size limit; the line limit bounds them.
          if ((remaining_ != 0 || digit != 0) && ++size_digits_ > 15)
            return Fail("chunk size too large");
          if (++line_bytes_ > limits_.max_line_bytes) return Fail("chunk size line too long");
          remaining_ = remaining_ * 16 + static_cast<std::uint64_t>(digit);
          break;
        }
        if (line_bytes_ == 0) return Fail("malformed chunk size");
        if (c == '\r') {
          state_ = State::kSizeLf;
        } else if (c == ';') {
          state_ = State::kExtNameStart;
        } else if (IsOws(c)) {
          state_ = State::kExtBws;
        } else {
          return Fail("malformed chunk size");
        }
        break;
      }
      case State::kExtBws:
      case State::kExtNameStart:
      case State::kExtName:
      case State::kExtAfterName:
      case State::kExtValStart:
      case State::kExtToken:
      case State::kExtQuoted:
      case State::kExtQuotedEsc:
      case State::kExtAfterQuoted:
        if (!ExtensionChar(c)) return 0;
        break;
      case State::kSizeLf:
        if (c != '\n') return Fail("chunk size line not ended by CRLF");
        line_bytes_ = 0;
        size_digits_ = 0;
        state_ = remaining_ == 0 ? State::kTrailerStart : State::kData;
        break;
      case State::kDataCr:
        if (c != '\r') return Fail("chunk data not followed by CRLF");
        state_ = State::kDataLf;
        break;
      case State::kDataLf:
        if (c != '\n') return Fail("chunk data not followed by CRLF");
        state_ = State::kSize;
        break;
      case State::kTrailerStart:
        if (c == '\r') {
          state_ = State::kFinalLf;
          break;
        }
        if (!IsTchar(c)) return Fail("malformed trailer field");
        state_ = State::kTrailerName;
        line_bytes_ = 1;
        if (++trailer_bytes_ > limits_.max_trailer_bytes) return Fail("trailer section too large");
        break;
      case State::kTrailerName:
        if (c == ':') {
          state_ = State::kTrailer;
        } else if (!IsTchar(c)) {
          return Fail("malformed trailer field name");
        }
        if (++line_bytes_ > limits_.max_line_bytes ||
            ++trailer_bytes_ > limits_.max_trailer_bytes) {
          return Fail("trailer section too large");
        }
        break;
      case State::kTrailer:
        if (c == '\r') {
          state_ = State::kTrailerLf;
        } else if (!IsFieldChar(c)) {
          return Fail("invalid character in trailer field");
        } else if (++line_bytes_ > limits_.max_line_bytes ||
                   ++trailer_bytes_ > limits_.max_trailer_bytes) {
          return Fail("trailer section too large");
        }
        break;
      case State::kTrailerLf:
        if (c != '\n') return Fail("trailer line not ended by CRLF");
        state_ = State::kTrailerStart;
        break;
      case State::kFinalLf:
        if (c != '\n') return Fail("chunked body not ended by CRLF");
        state_ = State::kDone;
        return i;
      default:
        return Fail("internal chunked decoder state");
    }
  }
  return i;
}

// ---- header rules ----------------------------------------------------------------------

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

}  // namespace gravity::http1
