#pragma once

// HTTP/1.1 message heads and framing (RFC 9110 / RFC 9112), without I/O.
//
// - ParseRequestHead / ParseResponseHead: zero-copy and incremental. Every string_view in
//   the result points into the caller's buffer, which must stay unchanged while the head
//   is used. Call again with the grown buffer when the result is kNeedMore; a HeadScanner
//   remembers how far the previous call looked so repeated calls stay linear.
// - RequestFraming / ResponseFraming: how long the body is (RFC 9112 section 6), refusing
//   the ambiguous cases that enable request smuggling.
// - ChunkedDecoder: follows a chunked body byte by byte so a proxy can pass the raw bytes
//   through unchanged while knowing where the message ends and how much data it carried.
// - IsHopByHop: which header fields a proxy must not forward.
//
// Everything here is a pure function or a small value type; no allocation happens on the
// parse path once the caller's header vector has grown to its working size.
// Thread-safety: none needed (no shared state).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gravity::http1 {

struct Header {
  std::string_view name;   // as received (case preserved); compare with EqualsIgnoreCase
  std::string_view value;  // leading and trailing whitespace removed
};

struct Limits {
  std::size_t max_head_bytes = 16 * 1024;  // request/status line + all header lines
  std::size_t max_headers = 100;           // header field lines
};

enum class ParseStatus {
  kNeedMore,  // the head is not complete yet; read more and call again
  kComplete,  // head_length bytes form the head; the body (if any) starts there
  kError,     // error_status (400, 431, 505, ...) says what to answer; error_reason why
};

struct ParseResult {
  ParseStatus status = ParseStatus::kNeedMore;
  std::size_t head_length = 0;    // kComplete: bytes consumed, including the empty line
  int error_status = 0;           // kError: HTTP status to answer with
  const char* error_reason = "";  // kError: static text naming what is wrong
};

// The four forms of request-target (RFC 9112 3.2).
enum class TargetForm {
  kOrigin,     // "/path?query"
  kAbsolute,   // "http://authority/path?query" (scheme http or https)
  kAuthority,  // "host:port", only with CONNECT
  kAsterisk,   // "*", only with OPTIONS
};

struct RequestHead {
  std::string_view method;
  std::string_view target;  // as received
  TargetForm form = TargetForm::kOrigin;
  // kAbsolute: the authority (host[:port], validated like Host; it replaces Host) and the
  // rest of the target (empty, "/...", or "?..."). kOrigin: authority empty, origin = target.
  std::string_view authority;
  std::string_view origin;
  int version_minor = 1;  // HTTP/1.0 -> 0, HTTP/1.1 (and 1.x above 1, RFC 9110 2.5) -> 1
  std::vector<Header> headers;

  // First value of a header (case-insensitive name), or nullptr.
  const Header* Find(std::string_view name) const;
  void Clear() { headers.clear(); }
};

struct ResponseHead {
  int version_minor = 1;
  int status = 0;
  std::string_view reason;
  std::vector<Header> headers;

  const Header* Find(std::string_view name) const;
  void Clear() { headers.clear(); }
};

// Remembers where the search for the end of the head stopped, so that feeding a growing
// buffer does not rescan from the start. Reset() before each new message.
class HeadScanner {
 public:
  // Returns the length of the head (up to and including the blank line) when `data`
  // contains a complete head, 0 otherwise. Leading empty lines (RFC 9112 2.2) count as
  // part of the head.
  std::size_t FindEnd(std::string_view data);
  void Reset() { scanned_ = 0; }

 private:
  std::size_t scanned_ = 0;
};

// Parses a request head from `data` (which may hold more than the head). `scanner` may be
// nullptr. On kComplete, `out` holds the parsed head. Refused: a request line longer than
// the head limit (414), a target with bytes outside visible ASCII or in none of the four
// forms (or a form its method does not allow), a Host that is not `host[:port]` (400).
ParseResult ParseRequestHead(std::string_view data, const Limits& limits, RequestHead* out,
                             HeadScanner* scanner = nullptr);

// Parses a response head. Interim 1xx responses are returned like any other.
ParseResult ParseResponseHead(std::string_view data, const Limits& limits, ResponseHead* out,
                              HeadScanner* scanner = nullptr);

// True when `value` is a valid Host / authority: reg-name (letters, digits, "-._~", the
// sub-delims "!$&'()*+,;=" and %-escapes), IPv4, or a bracketed IPv6 literal, then an optional ":" and up to 5 digits.
// No userinfo, no whitespace, no list. An empty value is valid (RFC 9112 3.2).
bool IsValidHost(std::string_view value);

// ---- Framing -------------------------------------------------------------------------

enum class BodyKind {
  kNone,           // no body
  kContentLength,  // exactly `length` bytes
  kChunked,        // chunked transfer coding; follow it with a ChunkedDecoder
  kUntilClose,     // responses only: the body ends when the server closes
};

struct Framing {
  BodyKind kind = BodyKind::kNone;
  std::uint64_t length = 0;  // kContentLength
  int error_status = 0;      // nonzero: the message is refused (400, 501, 502 ...)
  const char* error_reason = "";
  bool ok() const { return error_status == 0; }
};

// The body length of a request. Refuses: Transfer-Encoding together with Content-Length,
// Transfer-Encoding on HTTP/1.0, any transfer coding other than a single "chunked"
// (unknown codings -> 501, malformed or obfuscated ones -> 400), differing or malformed
// Content-Length values. A request whose codings do not end in chunked is refused with 400
// (RFC 9112 6.1).
Framing RequestFraming(const RequestHead& head);

// The body length of a response to a request with method `request_method`.
// HEAD requests, 1xx, 204 and 304 have no body; a 2xx answer to CONNECT has none either.
// Codings that do not end in chunked mean the body ends at close (RFC 9112 6.3).
// Errors carry 502 (the upstream sent something a proxy must not pass on).
Framing ResponseFraming(const ResponseHead& head, std::string_view request_method);

// ---- Chunked bodies --------------------------------------------------------------------

// Follows a chunked body (RFC 9112 7.1) without copying it: Feed() looks at the bytes,
// says how many belong to the body, and whether the body (including trailers) is complete.
class ChunkedDecoder {
 public:
  struct Limits {
    std::size_t max_line_bytes = 4096;  // chunk-size line incl. extensions; trailer lines
    std::size_t max_trailer_bytes = 16 * 1024;
  };
  ChunkedDecoder() = default;
  explicit ChunkedDecoder(Limits limits) : limits_(limits) {}

  // Consumes a prefix of `data`. Returns the number of bytes that belong to the chunked
  // body (all of `data` unless the body ended inside it). After an error, returns 0.
  // With `payload`, the chunk data (without sizes, extensions and trailers) is appended to it.
  std::size_t Feed(std::string_view data, std::string* payload = nullptr);

  bool done() const { return state_ == State::kDone; }
  bool failed() const { return state_ == State::kError; }
  const char* error() const { return error_; }
  std::uint64_t data_bytes() const { return data_bytes_; }  // payload bytes seen so far
  void Reset() { *this = ChunkedDecoder(limits_); }

 private:
  enum class State {
    kSize,          // reading hex digits of the chunk size
    kExtBws,        // whitespace after the size or an extension, before ";" or CR
    kExtNameStart,  // after ";": whitespace, then the first character of a name
    kExtName,       // inside an extension name
    kExtAfterName,  // whitespace after a name: "=", ";" or CR
    kExtValStart,   // after "=": whitespace, then a token or a quoted string
    kExtToken,      // inside a token value
    kExtQuoted,     // inside a quoted-string value
    kExtQuotedEsc,  // after a backslash in a quoted string
    kExtAfterQuoted,  // after the closing quote: ";", whitespace or CR
    kSizeLf,        // saw CR after the size line
    kData,          // inside chunk data
    kDataCr,        // expecting CR after chunk data
    kDataLf,        // expecting LF after chunk data
    kTrailerStart,  // start of a trailer line (or the final empty line)
    kTrailerName,   // inside a trailer field name, up to ":"
    kTrailer,       // inside a trailer field value
    kTrailerLf,     // saw CR in a trailer line
    kFinalLf,       // saw CR of the final empty line
    kDone,
    kError,
  };
  std::size_t Fail(const char* why);
  bool Reject(const char* why);  // Fail, for the bool-returning steps
  bool SizeChar(char c);       // one byte of the size line's digits; false: failed
  bool ExtensionChar(char c);  // one byte of the size line after the digits; false: failed
  bool TrailerChar(char c);    // one byte of a trailer line; false: failed
  bool CountTrailerByte();     // the line and section limits; false: failed

  Limits limits_;
  State state_ = State::kSize;
  std::uint64_t remaining_ = 0;  // bytes left in the current chunk
  std::uint64_t data_bytes_ = 0;
  std::size_t line_bytes_ = 0;
  std::size_t trailer_bytes_ = 0;
  int size_digits_ = 0;
  const char* error_ = "";
};

// ---- Header rules --------------------------------------------------------------------

bool EqualsIgnoreCase(std::string_view a, std::string_view b);

// True when the comma-separated list `value` contains `token` (case-insensitive).
bool HasToken(std::string_view value, std::string_view token);

// The tokens named by all Connection headers of a message, used by IsHopByHop.
struct ConnectionInfo {
  bool close = false;                    // "close" listed
  bool keep_alive = false;               // "keep-alive" listed
  bool upgrade = false;                  // "upgrade" listed
  std::vector<std::string_view> tokens;  // every listed token (for IsHopByHop)
};
void ParseConnection(const std::vector<Header>& headers, ConnectionInfo* out);

// True for header fields a proxy must not forward: the fixed hop-by-hop set (Connection,
// Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade) and any field
// named in the Connection header. Transfer-Encoding and Upgrade are reported too: a proxy
// that passes a chunked body or an upgrade through re-adds them itself.
bool IsHopByHop(std::string_view name, const ConnectionInfo& connection);

// Whether the connection stays open after this message: HTTP/1.1 unless "close",
// HTTP/1.0 only with "keep-alive".
bool KeepAlive(int version_minor, const ConnectionInfo& connection);

// Standard reason phrase ("Not Found"), or "Unknown".
const char* ReasonPhrase(int status);

// Percent-encoding of a query-string value (RFC 3986 2.1): every byte but the unreserved
// characters (letters, digits, "-._~") as %XX.
std::string PercentEncode(std::string_view s);

}  // namespace gravity::http1
