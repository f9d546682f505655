#include "common/http1.h"
#include "common/http1_chars.h"

// Message body length from Content-Length and Transfer-Encoding (RFC 9112 6).

namespace gravity::http1 {

namespace {

using internal::IsTchar;
using internal::TrimOws;

Framing FramingError(int status, const char* reason) {
  Framing f;
  f.error_status = status;
  f.error_reason = reason;
  return f;
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

}  // namespace gravity::http1
