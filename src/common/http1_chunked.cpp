#include "common/http1.h"
#include "common/http1_chars.h"

// The chunked transfer coding, followed byte by byte (RFC 9112 7.1).

namespace gravity::http1 {

namespace {

using internal::IsFieldChar;
using internal::IsOws;
using internal::IsTchar;

}  // namespace

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
      if (c == ';')
        state_ = State::kExtNameStart;
      else if (!ows)
        return Reject("malformed chunk extension (whitespace before CRLF)");
      return true;
    case State::kExtAfterQuoted:
      if (c == ';')
        state_ = State::kExtNameStart;
      else if (c == '\r')
        state_ = State::kSizeLf;
      else if (ows)
        state_ = State::kExtBws;
      else
        return Reject("malformed chunk extension value");
      return true;
    case State::kExtNameStart:
      if (IsTchar(c))
        state_ = State::kExtName;
      else if (!ows)
        return Reject("malformed chunk extension name");
      return true;
    case State::kExtName:
    case State::kExtAfterName:
      if (c == '=')
        state_ = State::kExtValStart;
      else if (c == ';')
        state_ = State::kExtNameStart;
      else if (ows)
        state_ = State::kExtAfterName;
      else if (c == '\r' && state_ == State::kExtName)
        state_ = State::kSizeLf;
      else if (!IsTchar(c) || state_ == State::kExtAfterName)
        return Reject("malformed chunk extension name");
      return true;
    case State::kExtValStart:
      if (c == '"')
        state_ = State::kExtQuoted;
      else if (IsTchar(c))
        state_ = State::kExtToken;
      else if (!ows)
        return Reject("malformed chunk extension value");
      return true;
    case State::kExtToken:
      if (c == ';')
        state_ = State::kExtNameStart;
      else if (c == '\r')
        state_ = State::kSizeLf;
      else if (ows)
        state_ = State::kExtBws;
      else if (!IsTchar(c))
        return Reject("malformed chunk extension value");
      return true;
    case State::kExtQuoted:
      if (c == '"')
        state_ = State::kExtAfterQuoted;
      else if (c == '\\')
        state_ = State::kExtQuotedEsc;
      else if (!IsFieldChar(c))
        return Reject("invalid character in chunk extension");
      return true;
    case State::kExtQuotedEsc:
      if (!IsFieldChar(c)) return Reject("invalid character in chunk extension");
      state_ = State::kExtQuoted;
      return true;
    default:
      return Reject("internal chunked decoder state");
  }
}

// One byte of the chunk-size line: a hex digit, or what ends the digits.
bool ChunkedDecoder::SizeChar(char c) {
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
      return Reject("chunk size too large");
    if (++line_bytes_ > limits_.max_line_bytes) return Reject("chunk size line too long");
    remaining_ = remaining_ * 16 + static_cast<std::uint64_t>(digit);
    return true;
  }
  if (line_bytes_ == 0) return Reject("malformed chunk size");
  if (c == '\r') {
    state_ = State::kSizeLf;
  } else if (c == ';') {
    state_ = State::kExtNameStart;
  } else if (IsOws(c)) {
    state_ = State::kExtBws;
  } else {
    return Reject("malformed chunk size");
  }
  return true;
}

// One byte of the trailer section (RFC 9112 7.1.2), up to the CR of the final empty line.
// One more byte of the trailer line being read: false (rejected) past the line limit or
// the whole trailer section's.
bool ChunkedDecoder::CountTrailerByte() {
  if (++line_bytes_ > limits_.max_line_bytes || ++trailer_bytes_ > limits_.max_trailer_bytes) {
    return Reject("trailer section too large");
  }
  return true;
}

bool ChunkedDecoder::TrailerChar(char c) {
  switch (state_) {
    case State::kTrailerStart:
      if (c == '\r') {
        state_ = State::kFinalLf;
        return true;
      }
      if (!IsTchar(c)) return Reject("malformed trailer field");
      state_ = State::kTrailerName;
      line_bytes_ = 0;
      return CountTrailerByte();
    case State::kTrailerName:
      if (c == ':') {
        state_ = State::kTrailer;
      } else if (!IsTchar(c)) {
        return Reject("malformed trailer field name");
      }
      return CountTrailerByte();
    case State::kTrailer:
      if (c == '\r') {
        state_ = State::kTrailerLf;
        return true;
      }
      if (!IsFieldChar(c)) return Reject("invalid character in trailer field");
      return CountTrailerByte();
    case State::kTrailerLf:
      if (c != '\n') return Reject("trailer line not ended by CRLF");
      state_ = State::kTrailerStart;
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
      case State::kSize:
        if (!SizeChar(c)) return 0;
        break;
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
      case State::kTrailerName:
      case State::kTrailer:
      case State::kTrailerLf:
        if (!TrailerChar(c)) return 0;
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

}  // namespace gravity::http1
